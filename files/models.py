"""Folders (Letta's sources), the files uploaded to them, their chunks (searchable like passages) and what each
attached agent has open. Agents are named by string foreign keys only: files never imports agents."""

import uuid

from django.db import models

from accounts.fields import user_reference
from memory.fields import EmbeddingField


class Folder(models.Model):
    """A collection of files with one embedding model; agents attached to it can read and search its files."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    instructions = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    embedding = models.CharField(max_length=200, help_text="embedding model handle (resolved at creation)")
    embedding_chunk_size = models.PositiveIntegerField(default=300, help_text="target chunk size in tokens")
    created_by = user_reference()
    last_updated_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="files_folder_name_unique")]

    def __str__(self) -> str:
        return self.name


class File(models.Model):
    """One uploaded file: its bytes' extracted text and its processing state (pending → parsing → embedding →
    completed, or error with a readable reason)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PARSING = "parsing", "Parsing"
        EMBEDDING = "embedding", "Embedding"
        COMPLETED = "completed", "Completed"
        ERROR = "error", "Error"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="files")
    file_name = models.CharField(max_length=255)
    original_file_name = models.CharField(max_length=255)
    file_type = models.CharField(max_length=100, blank=True, default="")
    file_size = models.PositiveBigIntegerField(default=0)
    # The upload's bytes until it is parsed (then emptied): processing runs in another process.
    raw = models.BinaryField(null=True, blank=True, editable=False)
    content = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error_message = models.TextField(blank=True, default="")
    total_chunks = models.PositiveIntegerField(null=True, blank=True)
    chunks_embedded = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["folder", "created_at", "id"], name="files_file_folder_time_id")]
        constraints = [models.UniqueConstraint(fields=["folder", "file_name"], name="files_file_name_unique")]

    def __str__(self) -> str:
        return self.file_name


class FileChunk(models.Model):
    """A passage of a file, searchable like archival passages (memory.search): full text at once, by meaning
    once embedded with the folder's model. `created_at` + `position` keep the file's order."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="+")
    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField()
    start_line = models.PositiveIntegerField(default=1)
    end_line = models.PositiveIntegerField(default=1)
    text = models.TextField()
    created_at = models.DateTimeField()
    embedding = EmbeddingField(null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=200, blank=True, default="")
    embedding_dim = models.PositiveSmallIntegerField(null=True, blank=True)
    embedding_hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["file", "position"]
        indexes = [
            models.Index(fields=["folder", "created_at", "id"], name="files_chunk_folder_time_id"),
            models.Index(fields=["file", "position"], name="files_chunk_file_position"),
        ]


class AgentFolder(models.Model):
    """A folder attached to an agent."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="folder_links")
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="agent_links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["agent", "folder"], name="files_agentfolder_unique")]


class FileAgent(models.Model):
    """An agent's view of one file of an attached folder: open or closed, and which lines it sees."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="file_views")
    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="agent_views")
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="+")
    is_open = models.BooleanField(default=False)
    start_line = models.PositiveIntegerField(null=True, blank=True)  # 1-based, inclusive
    end_line = models.PositiveIntegerField(null=True, blank=True)
    visible_content = models.TextField(blank=True, default="")
    last_accessed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["agent", "file"], name="files_fileagent_unique")]
        indexes = [models.Index(fields=["agent", "is_open"], name="files_fileagent_open")]
