"""obshell's hybrid encryption: round trips with 512/1024-bit keys, chunking, and pycryptodome interop."""

from __future__ import annotations

import base64
import json

import pytest
from Crypto.Cipher import AES
from Crypto.Cipher import PKCS1_v1_5 as PKCS1_cipher
from Crypto.PublicKey import RSA
from Crypto.Util.Padding import pad, unpad
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.protocol import crypto
from fleet.simulator.keys import generate_key_pair, generate_small_rsa

KEYS = {512: generate_key_pair(512), 1024: generate_key_pair(1024)}
printable = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF, exclude_categories=["Cs"]), max_size=80)


def test_small_keys_are_real_rsa() -> None:
    """The hand-made 512-bit key has a 512-bit modulus and round-trips PKCS#1 v1.5."""
    key = generate_small_rsa(512)
    assert key.key_size == 512
    public = crypto.load_public_key(crypto.public_key_to_wire(key.public_key()))
    assert public.key_size == 512


@pytest.mark.parametrize("bits", [512, 1024])
def test_header_chunks_are_key_bytes_minus_11(bits: int) -> None:
    """The header is encrypted in plaintext chunks of key bytes − 11: one RSA block per chunk."""
    pair = KEYS[bits]
    chunk = bits // 8 - 11
    for size in (1, chunk, chunk + 1, 3 * chunk):
        blob = base64.b64decode(crypto.encrypt_header(b"x" * size, pair.private.public_key()))
        assert len(blob) == -(-size // chunk) * (bits // 8)


@settings(max_examples=40, deadline=None)
@given(bits=st.sampled_from([512, 1024]), password=printable, uri=printable, ts=st.integers(0, 2**40))
def test_header_round_trip(bits: int, password: str, uri: str, ts: int) -> None:
    """decrypt_header(encrypt_header(h)) == h for any password, uri and expiry, with both key sizes."""
    pair = KEYS[bits]
    session = crypto.SessionKey.generate()
    doc = crypto.header_json(password, ts, uri, session)
    out = crypto.decrypt_header(crypto.encrypt_header(doc, pair.private.public_key()), pair.private)
    assert out == {"auth": password, "ts": str(ts), "uri": uri, "keys": session.to_wire()}
    assert crypto.SessionKey.from_wire(out["keys"]) == session


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=2000))
def test_body_round_trip(body: bytes) -> None:
    """decrypt_body(encrypt_body(b)) == b for arbitrary bodies."""
    session = crypto.SessionKey.generate()
    assert crypto.decrypt_body(crypto.encrypt_body(body, session), session) == body


def test_wrong_key_is_a_decrypt_failure() -> None:
    """A header for another key never decrypts to a header (error, or implicit-rejection garbage)."""
    other = generate_key_pair(1024)
    doc = crypto.header_json("pw", 1, "/u", crypto.SessionKey.generate())
    blob = crypto.encrypt_header(doc, other.private.public_key())
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_header(blob, KEYS[1024].private)


@pytest.mark.parametrize("bits", [512, 1024])
def test_sdk_encryption_decrypts_with_fleet(bits: int) -> None:
    """Header and body encrypted the SDK way (pycryptodome, 53-byte chunks) decrypt with fleet.protocol.crypto."""
    pair = KEYS[bits]
    cipher = PKCS1_cipher.new(RSA.import_key(base64.b64decode(pair.public_wire)))
    key, iv = b"k" * 16, b"i" * 16
    header = {"auth": "pässword", "ts": "1700000060", "uri": "/api/v1/obproxy/start?x=1",
              "keys": base64.b64encode(key + iv).decode()}
    data = json.dumps(header).encode()
    blob = base64.b64encode(b"".join(cipher.encrypt(data[i:i + 53]) for i in range(0, len(data), 53))).decode()
    assert crypto.decrypt_header(blob, pair.private) == header
    body = base64.b64encode(AES.new(key, AES.MODE_CBC, iv).encrypt(pad(b'{"operator": "RETRY"}', 16)))
    assert crypto.decrypt_body(body, crypto.SessionKey(key, iv)) == b'{"operator": "RETRY"}'


@pytest.mark.parametrize("bits", [512, 1024])
def test_fleet_encryption_decrypts_with_pycryptodome(bits: int) -> None:
    """fleet's header (key bytes − 11 chunks) and body decrypt with pycryptodome, as an agent would."""
    pair = KEYS[bits]
    priv = RSA.construct((pair.private.private_numbers().public_numbers.n,
                          pair.private.private_numbers().public_numbers.e, pair.private.private_numbers().d))
    session = crypto.SessionKey.generate()
    doc = crypto.header_json("pw", 1700000060, "/api/v1/task/dag/41?show_details=true", session)
    raw = base64.b64decode(crypto.encrypt_header(doc, pair.private.public_key()))
    block = bits // 8
    cipher = PKCS1_cipher.new(priv)
    plain = b"".join(cipher.decrypt(raw[i:i + block], None)  # type: ignore[arg-type]  # stub: sentinel may be any object
                     for i in range(0, len(raw), block))
    assert plain == doc
    body = base64.b64decode(crypto.encrypt_body(b'{"a": 1}', session))
    assert unpad(AES.new(session.key, AES.MODE_CBC, session.iv).decrypt(body), 16) == b'{"a": 1}'
