from django.apps import AppConfig


class AgentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "agents"

    def ready(self) -> None:
        from agents.runtime.events import block_changed_receiver
        from memory.signals import block_changed

        block_changed.connect(block_changed_receiver, dispatch_uid="agents.runtime.events.block_changed")
