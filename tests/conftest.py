"""Fixtures shared by every test directory."""

from __future__ import annotations

import socket

import pytest
from hypothesis import settings

# No per-example deadline: a time limit fails property tests on a busy machine (it once failed
# test_keys.py::test_normalisation_is_idempotent at load 20) and says nothing about correctness.
settings.register_profile("semcache", deadline=None)
settings.load_profile("semcache")


@pytest.fixture(scope="session")
def builtin_embedder():
    """The process-wide built-in embedder, loaded once per session with the network cut off.

    The returned object carries ``network_attempts``: every address the load
    tried to connect to (each attempt fails), for a test to assert it is empty,
    and ``loaded_under_guard``: False when something loaded the shared model
    before this fixture ran.
    """
    from redis_semcache.embeddings import default_embedder

    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError(f"test: network access during model load ({address!r})")

    embedder = default_embedder()
    embedder.loaded_under_guard = not embedder.loaded
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket.socket, "connect_ex", refuse)
        embedder.warmup()
    embedder.network_attempts = attempts
    return embedder
