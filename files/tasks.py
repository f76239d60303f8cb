"""File processing (`embeddings` queue, see config/celery.py): a thin adapter that takes the file's id."""

from celery import shared_task

from files.services.processing import file_process


@shared_task(name="files.process_file", acks_late=True, max_retries=0, soft_time_limit=1800, time_limit=1900)
def process_file_task(file_id: str) -> str:
    return file_process(file_id=file_id)
