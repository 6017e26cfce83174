"""Secrets at rest: a shop's webhook secret and API credentials are stored sealed with Fernet (the
cryptography package's authenticated encryption). The key is SECRETS_KEY or, when that is unset,
one derived from SECRET_KEY with HKDF; a sealed value that no longer opens (the key changed) reads
as empty, so the connection asks for its secret again instead of failing."""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(material: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"controltower shop secrets").derive(material.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _box() -> Fernet:
    return _fernet(settings.SECRETS_KEY or settings.SECRET_KEY)


def seal(plain: str) -> str:
    return _box().encrypt(plain.encode()).decode() if plain else ""


def unseal(sealed: str) -> str:
    if not sealed:
        return ""
    try:
        return _box().decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return ""
