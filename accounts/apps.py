from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self) -> None:
        from django.contrib.auth.models import User
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_delete, post_save

        from accounts import events

        user_logged_out.connect(events.logged_out_receiver, dispatch_uid="accounts.logged_out")
        post_save.connect(events.user_saved_receiver, sender=User, dispatch_uid="accounts.user_saved")
        post_delete.connect(events.user_deleted_receiver, sender=User, dispatch_uid="accounts.user_deleted")
