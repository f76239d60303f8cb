from django.apps import AppConfig


class AgentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "agents"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from agents.runtime.events import block_changed_receiver
        from agents.services.tools import builtin_tools_seed
        from memory.signals import block_changed

        block_changed.connect(block_changed_receiver, dispatch_uid="agents.runtime.events.block_changed")
        # The built-in tools are rows (organization=None): written after every migrate, never on a read.
        post_migrate.connect(builtin_tools_seed, sender=self, dispatch_uid="agents.builtin_tools_seed")
