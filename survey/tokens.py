"""Personal-link tokens and receipt codes.

A token carries 144 random bits and is stored only as its SHA-256: the
token's entropy is the protection, so a fast hash is the right one (a slow
password KDF would add nothing), and a copy of the database lets nobody vote.
"""
from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 18  # 144 bits -> 24 URL-safe characters
#: Crockford's base32 without I, L, O, U: easy to read aloud and type.
RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECEIPT_LENGTH = 16  # 80 bits


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def new_receipt() -> str:
    return "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_LENGTH))


def normalise_receipt(text: str) -> str | None:
    """What the evaluator typed -> the canonical code, or None if it cannot be one."""
    code = "".join(ch for ch in text.upper() if ch.isalnum())
    code = code.replace("O", "0").replace("I", "1").replace("L", "1")
    if len(code) != RECEIPT_LENGTH or any(ch not in RECEIPT_ALPHABET for ch in code):
        return None
    return code


def hash_receipt(code: str) -> bytes:
    return hashlib.sha256(b"receipt:" + code.encode("ascii")).digest()


def format_receipt(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))
