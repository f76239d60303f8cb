from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Serve Engram with daphne (the ADE and /v1): migrations and the first admin first, then the server, in this "
        "one process (`make run`; a second start costs one Django setup, not two)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:
        from daphne.cli import CommandLineInterface

        call_command("bootstrap_admin", "--migrate", stdout=self.stdout)
        host, port = options["host"], options["port"]
        self.stdout.write(f"Engram: http://{host}:{port}/  (API: http://{host}:{port}/v1/, docs: /v1/docs/)")
        self.stdout.flush()
        CommandLineInterface().run(["-b", host, "-p", str(port), "config.asgi:application"])
