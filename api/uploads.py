"""Django leaves file uploads out of DATA_UPLOAD_MAX_MEMORY_SIZE (it streams them to disk, however large): this
upload handler, first in FILE_UPLOAD_HANDLERS, ends any multipart body past that limit (`ENGRAM_MAX_BODY_BYTES`)
with RequestDataTooBig (a 413 in the API), before more of it is read or written anywhere."""

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler


class LimitedUploadHandler(FileUploadHandler):
    received = 0

    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, boundary: Any, encoding: str | None = None
    ) -> None:
        self.received = 0
        self._check(content_length)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        self._check(self.received)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None

    @staticmethod
    def _check(size: int) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and size > limit:
            raise RequestDataTooBig(f"Request body exceeds the limit of {limit} bytes.")
