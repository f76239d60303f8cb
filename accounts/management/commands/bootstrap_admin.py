import os
import secrets
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from accounts.services import admin_bootstrap


class Command(BaseCommand):
    help = "Create the first admin account unless a user exists (ENGRAM_ADMIN_USER, ENGRAM_ADMIN_PASSWORD)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--migrate", action="store_true", help="apply migrations first (one start-up, not two)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        username = os.environ.get("ENGRAM_ADMIN_USER") or "admin"
        given = os.environ.get("ENGRAM_ADMIN_PASSWORD")
        password = given or secrets.token_urlsafe(12)
        user = admin_bootstrap(username=username, password=password)
        if user is None:
            return
        self.stdout.write(self.style.SUCCESS(f"Created the admin account {username!r}."))
        if not given:
            self.stdout.write(f"Its generated password (shown once): {password}")
