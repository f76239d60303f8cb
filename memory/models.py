import uuid

from django.db import models

from accounts.fields import user_reference
from lib.ids import ordered_uuid
from memory.fields import EmbeddingField

DEFAULT_BLOCK_LIMIT = 20_000
DEFAULT_BLOCK_DESCRIPTIONS = {
    "persona": "The persona block: stores details about your current persona, guiding how you behave and respond.",
    "human": "The human block: stores key details about the person you are conversing with.",
}


class Block(models.Model):
    """A core-memory block: rendered into the system prompt of every agent it is attached to."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="blocks")
    label = models.CharField(max_length=100)
    value = models.TextField(blank=True, default="")
    limit = models.PositiveIntegerField(default=DEFAULT_BLOCK_LIMIT)
    description = models.TextField(blank=True, default="")
    read_only = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    is_template = models.BooleanField(default=False)
    template_name = models.CharField(max_length=200, blank=True, default="")
    created_by = user_reference()
    last_updated_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["organization", "label"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(limit__gt=0), name="memory_block_limit_positive"),
        ]

    def __str__(self) -> str:
        return self.label


class BlockRevision(models.Model):
    """One write to a block: before/after and who did it (a user, or an agent during a step)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    block = models.ForeignKey(Block, on_delete=models.CASCADE, related_name="revisions")
    before = models.TextField(blank=True, default="")
    after = models.TextField(blank=True, default="")
    actor_user = user_reference()
    # Agents and steps are referenced by id only: memory never imports agents.
    actor_agent_id = models.UUIDField(null=True, blank=True)
    step_id = models.UUIDField(null=True, blank=True)
    source = models.CharField(max_length=32, default="api", help_text="api, ade, tool, revert")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["block", "-created_at"])]


class Archive(models.Model):
    """An archival store that several agents of one organization can attach: its passages are searched with each
    attached agent's own (Letta's `archives`)."""

    id = models.UUIDField(primary_key=True, default=ordered_uuid, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    # The handle its passages are embedded with ('' = the server default, as for agents).
    embedding = models.CharField(max_length=200, blank=True, default="")
    agents = models.ManyToManyField("agents.Agent", through="ArchiveAttachment", related_name="archives")
    created_by = user_reference()
    last_updated_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["organization", "created_at", "id"], name="memory_archive_org_time_id")]

    def __str__(self) -> str:
        return self.name


class ArchiveAttachment(models.Model):
    """An agent's attachment to an archive (both of one organization)."""

    archive = models.ForeignKey(Archive, on_delete=models.CASCADE, related_name="attachments")
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="archive_attachments")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["archive", "agent"], name="memory_archive_attachment_unique")]


class Passage(models.Model):
    """An archival-memory passage owned by one agent or held in one archive (exactly one of the two)."""

    id = models.UUIDField(primary_key=True, default=ordered_uuid, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey("agents.Agent", null=True, blank=True, on_delete=models.CASCADE, related_name="passages")
    archive = models.ForeignKey(Archive, null=True, blank=True, on_delete=models.CASCADE, related_name="passages")
    text = models.TextField()
    tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_by = user_reference()
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The vector, and which model wrote it: rows of one table may hold several models and dimensions.
    # embedding_hash = sha256(model + text) of what was embedded, so re-embedding is idempotent.
    embedding = EmbeddingField(null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=200, blank=True, default="")
    embedding_dim = models.PositiveSmallIntegerField(null=True, blank=True)
    embedding_hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["agent", "created_at"]),
            # Cursor pagination and the hybrid search's context neighbours seek on (created_at, id).
            models.Index(fields=["agent", "created_at", "id"], name="memory_passage_agent_time_id"),
            models.Index(fields=["archive", "created_at", "id"], name="memory_passage_archive_time_id"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(agent__isnull=False, archive__isnull=True)
                | models.Q(agent__isnull=True, archive__isnull=False),
                name="memory_passage_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.text[:60]


class EmbeddingJob(models.Model):
    """A re-embed of every passage and message of one agent with `model` (after its embedding model changed)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="embedding_jobs")
    model = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["agent", "-created_at"])]

    @property
    def progress(self) -> float:
        return 1.0 if self.total == 0 else min(1.0, self.done / self.total)


class EmbeddingUsage(models.Model):
    """Embedding work per organization, agent, UTC day and model: batches computed and texts embedded for stored
    rows (passages and messages; search queries are not counted). The usage report reads it; the agent is an id
    only (memory never imports agents), so the count outlives the agent; None for a shared archive's passages."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    agent_id = models.UUIDField(null=True)
    day = models.DateField()
    model = models.CharField(max_length=200)
    calls = models.PositiveBigIntegerField(default=0)
    texts = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "day", "agent_id", "model"], name="memory_embedusage_key")
        ]
