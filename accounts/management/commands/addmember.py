import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import Membership, Organization
from accounts.services import organization_create, password_check, user_create


class Command(BaseCommand):
    help = "Add a user to an organization (created with --new-org). Prints a generated password if none is given."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--org", help="organization name (default: the only organization)")
        parser.add_argument("--new-org", action="store_true", help="create the organization named by --org")
        parser.add_argument("--role", choices=Membership.Role.values, default=Membership.Role.MEMBER)
        parser.add_argument("--password", help="default: generated and printed once")
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        password = options["password"] or secrets.token_urlsafe(12)
        try:
            # One transaction: a refused user must not leave a new organization behind.
            with transaction.atomic():
                organization = self._organization(options["org"], new=options["new_org"])
                password_check(password=password, username=options["username"], email=options["email"])
                user_create(
                    username=options["username"],
                    password=password,
                    organization=organization,
                    role=options["role"],
                    email=options["email"],
                )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"added {options['username']} to {organization.name} as {options['role']}")
        if not options["password"]:
            self.stdout.write(f"password: {password}")

    def _organization(self, org_name: str | None, *, new: bool) -> Organization:
        if new:
            if not org_name:
                raise CommandError("--new-org needs --org NAME")
            return organization_create(name=org_name)
        orgs = Organization.objects.filter(name=org_name) if org_name else Organization.objects.all()
        if orgs.count() != 1:
            raise CommandError("name one existing organization with --org (or create one with --new-org)")
        return orgs.get()
