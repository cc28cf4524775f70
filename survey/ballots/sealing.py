"""Keys, keyed hashes and sealed (encrypted) values for what the ballot
path stores beside ballots: drafts and pending `used` marks
(docs/anonymity.md, "SQLite").

Two kinds of key:

* the evaluator's own secret (a personal link's token, an open-channel
  form's draft key): the server holds it only while it answers that
  evaluator's request and stores it nowhere, so what is sealed under it
  (a draft) or hashed from it (a draft's or a claim's key) is opaque to
  anyone holding the files, even with the app's key;
* the app's key (SECRET_KEY, which may live in instance/): only for the
  pending marks, which the app must read back without the evaluator.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

NONCE_BYTES = 12


def _app_key() -> bytes:
    key = current_app.config["SECRET_KEY"]
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


def keyed_hash(purpose: str, secret: str) -> bytes:
    """HMAC-SHA256 under the app's key of purpose and secret: a stable lookup
    key that nobody can compute from the database without the secret."""
    return hmac.new(_app_key(), f"{purpose}\x00{secret}".encode(), hashlib.sha256).digest()


def derive_key(secret: str, *, salt: bytes, purpose: str) -> bytes:
    """A 256-bit AES key from a high-entropy secret (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
                info=f"pingyi {purpose}".encode()).derive(secret.encode("utf-8"))


def app_sealing_key(purpose: str) -> bytes:
    return _app_sealing_key(_app_key(), purpose)


@functools.lru_cache(maxsize=8)
def _app_sealing_key(app_key: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"pingyi",
                info=f"pingyi {purpose}".encode()).derive(app_key)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """nonce | AES-256-GCM(plaintext), bound to aad."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def unseal(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """The plaintext; raises cryptography.exceptions.InvalidTag where the key,
    the aad or the bytes are not those it was sealed with."""
    return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
