import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("engram")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Queues by cost: long LLM runs, batched embeddings, short housekeeping.
app.conf.task_routes = {
    "agents.*": {"queue": "llm"},
    "memory.embed_*": {"queue": "embeddings"},
    "memory.reembed_*": {"queue": "embeddings"},
}
app.autodiscover_tasks()
