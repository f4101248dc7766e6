"""Which tenant a request belongs to: a keyed hash of its API key.

Entries are scoped by ``HMAC-SHA256(secret, bearer token)`` so two API keys
never share answers, while the key itself is never stored: Redis holds only
the digest, which cannot be reversed or checked against a guessed key without
the secret.  The secret is per deployment (``SEMCACHE_TENANT_KEY``); every
gateway on one Redis needs the same one, or each sees only its own entries.
When none is given a random one is made for this process: safe (no answer
crosses tenants), but entries are not shared with other processes and do not
survive a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

__all__ = ["Tenancy", "bearer_token"]

log = logging.getLogger("redis_semcache.gateway")


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header ("" when there is none)."""
    if not authorization:
        return ""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else authorization.strip()


class Tenancy:
    """The scope a request's entries live in: ``{"tenant": digest}``, or ``{}`` when pooled."""

    def __init__(self, secret: bytes | None, *, pooled: bool = False, shared_backend: bool = False) -> None:
        if secret is None and not pooled and shared_backend:
            log.warning(
                "redis_semcache gateway: no SEMCACHE_TENANT_KEY; a random one keys this process, so other "
                "gateways on this Redis will not share its entries (set the same key on every gateway)"
            )
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.pooled = pooled

    def __repr__(self) -> str:  # the secret stays out of any repr
        return f"Tenancy(pooled={self.pooled})"

    def scope(self, authorization: str | None) -> dict[str, str]:
        if self.pooled:
            return {}
        token = bearer_token(authorization).encode()
        return {"tenant": hmac.new(self._secret, token, hashlib.sha256).hexdigest()[:32]}
