"""Encryption at rest for the secrets users hand Engram (agents' tool secrets).

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`). Keys: every key in `ENGRAM_SECRETS_KEYS` (comma-separated
Fernet keys, newest first: the first encrypts, all decrypt, so a key can be rotated in), then a key derived from
`SECRET_KEY` (HKDF-SHA256), which is all a default installation needs. Losing both loses the secrets.
"""

import base64
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class DecryptionError(Exception):
    pass


def encrypt(text: str) -> str:
    return _fernet(settings.SECRET_KEY, tuple(settings.ENGRAM_SECRETS_KEYS)).encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(settings.SECRET_KEY, tuple(settings.ENGRAM_SECRETS_KEYS)).decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("a stored secret cannot be decrypted with the configured keys") from None


@cache
def _fernet(secret_key: str, keys: tuple[str, ...]) -> MultiFernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"engram secrets at rest").derive(
        secret_key.encode()
    )
    return MultiFernet([*(Fernet(k) for k in keys), Fernet(base64.urlsafe_b64encode(derived))])
