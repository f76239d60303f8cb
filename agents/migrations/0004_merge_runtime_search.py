from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0003_message_search"),
        ("agents", "0003_runtime"),
    ]

    operations: list[migrations.operations.base.Operation] = []
