from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector on PostgreSQL; a no-op on SQLite (CreateExtension only runs on PostgreSQL)."""

    dependencies = [("memory", "0001_initial")]

    operations = [VectorExtension()]
