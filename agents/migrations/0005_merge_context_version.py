from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0004_context_version"),
        ("agents", "0004_merge_runtime_search"),
    ]

    operations: list[migrations.operations.base.Operation] = []
