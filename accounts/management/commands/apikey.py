from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import APIKey
from accounts.services import apikey_create, apikey_revoke


class Command(BaseCommand):
    help = "Create, list or revoke a user's API keys. `apikey create USERNAME --name N` prints the key once."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a key and print it on its own line")
        create.add_argument("username")
        create.add_argument("--name", default="cli")
        listing = sub.add_parser("list", help="list a user's keys")
        listing.add_argument("username")
        revoke = sub.add_parser("revoke", help="revoke a key by its id")
        revoke.add_argument("key_id")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "revoke":
            try:
                api_key = APIKey.objects.get(pk=options["key_id"])
            except (APIKey.DoesNotExist, ValidationError):
                raise CommandError(f"no API key with id {options['key_id']}") from None
            apikey_revoke(api_key=api_key)
            self.stderr.write(f"revoked {api_key.name} ({api_key.prefix}…)")
            return
        user_model = get_user_model()
        try:
            user = user_model.objects.get(username=options["username"])
        except user_model.DoesNotExist:
            raise CommandError(f"no user named {options['username']!r}") from None
        if action == "list":
            for key in APIKey.objects.filter(user=user):
                state = "active" if key.is_active else "revoked"
                self.stdout.write(f"{key.id}  {key.prefix}…  {key.name}  {state}")
            return
        try:
            created = apikey_create(user=user, name=options["name"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stderr.write(f"API key {created.api_key.name!r} for {user.get_username()} (shown once):")
        self.stdout.write(created.raw_key)
