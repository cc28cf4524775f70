"""Personal-link tokens and receipt codes.

A token carries 144 random bits and is stored only as its SHA-256: the
token's entropy is the protection, so a fast hash is the right one (a slow
password KDF would add nothing), and a copy of the database lets nobody vote.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
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


# --- a receipt bound to the form it was issued for ---
#
# The server draws the receipt when it renders a form and signs it together
# with the link it is for (a personal link: its token's hash; an open form:
# the batch and the browser's draft key). A POST's receipt counts only with
# the signature for that link, so no client chooses its receipt (a coercer
# cannot dictate one) and no receipt moves to another link. The signature is
# checked and forgotten: nothing stored links a receipt to a link.


@functools.lru_cache(maxsize=8)
def _receipt_key(secret: str | bytes) -> bytes:
    """The key of receipt signatures, derived from SECRET_KEY (used for nothing else)."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(raw, b"pingyi/receipt-binding/v1", hashlib.sha256).digest()


def receipt_mac(secret: str | bytes, link: bytes, code: str) -> str:
    """The signature binding receipt ``code`` to ``link`` (22 URL-safe characters)."""
    digest = hmac.new(_receipt_key(secret), b"receipt|" + link + b"|" + code.encode("ascii"),
                      hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def receipt_mac_valid(secret: str | bytes, link: bytes, code: str | None, mac: str | None) -> bool:
    """Whether ``mac`` is the server's signature of receipt ``code`` for ``link``."""
    if not code or not mac or len(mac) > 64 or not mac.isascii():
        return False
    return hmac.compare_digest(receipt_mac(secret, link, code), mac)
