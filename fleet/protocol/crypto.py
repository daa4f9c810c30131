"""obshell's "v2" hybrid encryption, as pure functions over bytes.

Client side: a fresh AES-128 key and IV per request; the body (if any) travels as
base64(AES-128-CBC(PKCS#7(json))); a small JSON header ``{"auth", "ts", "uri", "keys"}``
is RSA-encrypted with the agent's public key (PKCS#1 v1.5, in chunks of key bytes − 11),
concatenated and base64-encoded into ``X-OCS-Agent-Header``.

The decrypting counterparts serve fleet's simulator, which plays the agent.
Randomness is injected (``rand``) so tests can be deterministic.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

AES_KEY_BYTES = 16
AES_IV_BYTES = 16
PKCS1_V15_OVERHEAD = 11
_PKCS1 = asym_padding.PKCS1v15()


class CryptoError(ValueError):
    """Raised when something does not decrypt or decode (simulator side), or a key is unusable."""


@dataclass(frozen=True, slots=True)
class SessionKey:
    """The per-request AES key and IV; travels inside the RSA header as base64(key || iv)."""

    key: bytes
    iv: bytes

    @classmethod
    def generate(cls, rand: Callable[[int], bytes] = os.urandom) -> SessionKey:
        return cls(rand(AES_KEY_BYTES), rand(AES_IV_BYTES))

    @classmethod
    def from_wire(cls, keys_b64: str) -> SessionKey:
        try:
            raw = base64.b64decode(keys_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("keys is not base64") from exc
        if len(raw) != AES_KEY_BYTES + AES_IV_BYTES:
            raise CryptoError(f"keys holds {len(raw)} bytes, expected 32")
        return cls(raw[:AES_KEY_BYTES], raw[AES_KEY_BYTES:])

    def to_wire(self) -> str:
        return base64.b64encode(self.key + self.iv).decode("ascii")


# -- keys ---------------------------------------------------------------------------------


def load_public_key(public_key_b64: str) -> rsa.RSAPublicKey:
    """Parse ``/api/v1/secret``'s ``public_key``: base64 of a DER PKCS#1 RSAPublicKey.

    PKIX (SubjectPublicKeyInfo) DER is accepted too, so a re-encoded key still works.
    """
    try:
        der = base64.b64decode(public_key_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("public_key is not base64") from exc
    for loader in (_load_pkcs1_der, serialization.load_der_public_key):
        try:
            key = loader(der)
        except (ValueError, TypeError):
            continue
        if isinstance(key, rsa.RSAPublicKey):
            if key.key_size < 512:
                raise CryptoError(f"public key of {key.key_size} bits is too small to carry the header")
            return key
    raise CryptoError("public_key is not a DER RSA public key")


def _load_pkcs1_der(der: bytes) -> Any:
    # cryptography has no direct PKCS#1 DER loader; wrap it as PEM, which it accepts.
    pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(der) + b"-----END RSA PUBLIC KEY-----\n"
    return serialization.load_pem_public_key(pem)


def public_key_to_wire(key: rsa.RSAPublicKey) -> str:
    """Encode a public key as obshell publishes it: base64 of DER PKCS#1."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return base64.b64encode(der).decode("ascii")


# -- client side --------------------------------------------------------------------------


def header_json(password: str, expires_at: int, uri: str, session: SessionKey) -> bytes:
    """The header document. ``ts`` is the expiry in unix seconds, as a string (as obshell expects)."""
    doc = {"auth": password, "ts": str(int(expires_at)), "uri": uri, "keys": session.to_wire()}
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


def encrypt_header(plaintext: bytes, public_key: rsa.RSAPublicKey) -> str:
    """RSA PKCS#1 v1.5 over chunks of (key bytes − 11), concatenated, base64."""
    chunk = public_key.key_size // 8 - PKCS1_V15_OVERHEAD
    blocks = [public_key.encrypt(plaintext[i : i + chunk], _PKCS1) for i in range(0, len(plaintext), chunk)]
    return base64.b64encode(b"".join(blocks)).decode("ascii")


def encrypt_body(plaintext: bytes, session: SessionKey) -> bytes:
    """AES-128-CBC with PKCS#7 padding, base64 — the body as it goes on the wire."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(session.key), modes.CBC(session.iv)).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize())


# -- agent side (the simulator) ------------------------------------------------------------


def decrypt_header(header_b64: str, private_key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """Undo :func:`encrypt_header` and parse the JSON; anything off is a :class:`CryptoError`.

    With a wrong key, PKCS#1 v1.5 "implicit rejection" yields random bytes instead of an
    error, so "does not decode to a JSON object" is a decrypt failure too.
    """
    try:
        raw = base64.b64decode(header_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("header is not base64") from exc
    block = private_key.key_size // 8
    if not raw or len(raw) % block:
        raise CryptoError("header length is not a whole number of RSA blocks")
    try:
        plain = b"".join(private_key.decrypt(raw[i : i + block], _PKCS1) for i in range(0, len(raw), block))
        doc = json.loads(plain)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CryptoError("header does not decrypt") from exc
    if not isinstance(doc, dict):
        raise CryptoError("header does not decrypt to a JSON object")
    return doc


def decrypt_body(body_b64: bytes, session: SessionKey) -> bytes:
    """Undo :func:`encrypt_body`."""
    try:
        raw = base64.b64decode(body_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("body is not base64") from exc
    if not raw or len(raw) % 16:
        raise CryptoError("body is not whole AES blocks")
    decryptor = Cipher(algorithms.AES(session.key), modes.CBC(session.iv)).decryptor()
    padded = decryptor.update(raw) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise CryptoError("body padding is wrong") from exc
