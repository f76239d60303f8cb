import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Membership, Organization
from accounts.services import organization_create, user_create


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
        org_name = options["org"]
        if options["new_org"]:
            if not org_name:
                raise CommandError("--new-org needs --org NAME")
            organization = organization_create(name=org_name)
        else:
            orgs = Organization.objects.filter(name=org_name) if org_name else Organization.objects.all()
            if orgs.count() != 1:
                raise CommandError("name one existing organization with --org (or create one with --new-org)")
            organization = orgs.get()
        password = options["password"] or secrets.token_urlsafe(12)
        try:
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
