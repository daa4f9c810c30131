"""RSA key pairs for simulated agents: a shared pool (keygen is the start-up bottleneck) and 512-bit keys.

A 1024-bit key costs ~7 ms to generate, so 10,000 agents with their own key would take over a
minute. Agents instead draw from a pool of ``key_pool`` distinct pairs per key size, assigned
round-robin from a seeded starting point; a key that rotates (fault ``key_rotation``,
``forget_dags_after``) is generated fresh, on demand.

``cryptography`` refuses to *generate* keys below 1024 bits but can load and use them, so the
512-bit keys old obshell agents had are made here: two random 256-bit primes (Miller–Rabin with
:mod:`secrets`), then ``RSAPrivateNumbers(...).private_key(unsafe_skip_rsa_key_validation=True)``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from fleet.protocol.crypto import public_key_to_wire

PUBLIC_EXPONENT = 65537
_SMALL_PRIMES = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97)


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A private key and its public half as ``/api/v1/secret`` publishes it."""

    private: rsa.RSAPrivateKey
    public_wire: str
    bits: int


def _is_probable_prime(n: int, rounds: int = 40) -> bool:
    if n < 2:
        return False
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for _ in range(rounds):
        a = 2 + secrets.randbelow(n - 3)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _random_prime(bits: int) -> int:
    while True:
        # Top two bits set so p*q has exactly 2*bits bits; odd.
        candidate = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        if candidate % PUBLIC_EXPONENT != 1 and _is_probable_prime(candidate):
            return candidate


def generate_small_rsa(bits: int = 512) -> rsa.RSAPrivateKey:
    """An RSA key below cryptography's 1024-bit generation floor (for old-agent simulation)."""
    while True:
        p, q = _random_prime(bits // 2), _random_prime(bits // 2)
        if p == q:
            continue
        phi = (p - 1) * (q - 1)
        try:
            d = pow(PUBLIC_EXPONENT, -1, phi)
        except ValueError:
            continue
        numbers = rsa.RSAPrivateNumbers(
            p=p, q=q, d=d, dmp1=d % (p - 1), dmq1=d % (q - 1), iqmp=pow(q, -1, p),
            public_numbers=rsa.RSAPublicNumbers(PUBLIC_EXPONENT, p * q),
        )
        return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def generate_key_pair(bits: int) -> KeyPair:
    """A fresh key pair of ``bits`` (512 or 1024)."""
    if bits < 1024:
        private = generate_small_rsa(bits)
    else:
        private = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=bits)
    return KeyPair(private, public_key_to_wire(private.public_key()), bits)


class KeyPool:
    """``size`` distinct key pairs per key size, handed out round-robin; a slot's key is made on first use."""

    def __init__(self, size: int, start: int = 0) -> None:
        self._size = size
        self._start = start
        self._pools: dict[int, dict[int, KeyPair]] = {}
        self._next: dict[int, int] = {}

    def take(self, bits: int) -> KeyPair:
        """The next pooled key of ``bits``."""
        pool = self._pools.setdefault(bits, {})
        i = self._next.get(bits, self._start)
        self._next[bits] = i + 1
        slot = i % self._size
        pair = pool.get(slot)
        if pair is None:
            pair = pool[slot] = generate_key_pair(bits)
        return pair

    def fresh(self, bits: int) -> KeyPair:
        """A brand-new key pair, outside the pool (rotation, restart)."""
        return generate_key_pair(bits)
