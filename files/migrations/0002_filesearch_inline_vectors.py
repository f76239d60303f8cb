from django.db import migrations

from memory import ddl


def forwards(apps, schema_editor):
    ddl.apply(schema_editor, ddl.inline_vectors_sql(schema_editor.connection.vendor, "files_filechunk"))


def backwards(apps, schema_editor):
    ddl.apply(schema_editor, ddl.toasted_vectors_sql(schema_editor.connection.vendor, "files_filechunk"))


class Migration(migrations.Migration):
    """PostgreSQL: chunks keep their vectors in the row, so an exact scan of a folder reads no TOAST table
    (memory.ddl.inline_vectors_sql)."""

    dependencies = [("files", "0001_files_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
