"""Tenant isolation, shared by every backend.

Random sets and gets in two caches that must not see each other (two
namespaces on one backend, or two cache names on one server).  Every response
names its tenant, and no lookup may return the other tenant's response, by
exact or by semantic match.  Vectors come from a tiny pool, so cross-tenant
semantic candidates exist on every run.

An oracle of each tenant's own entries says what every lookup must return: a
prompt the tenant stored is an exact hit; otherwise the tenant's nearest entry
at or above the threshold is a semantic hit, and with none there it is a miss,
whatever the other tenant stored.  So a cache that misses everything fails too.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

POOL = np.random.default_rng(7).standard_normal((4, 8))
# Similarities this close to the threshold may round either way (float32 vectors on Redis).
MARGIN = 1e-3

tenant_ops = st.lists(
    st.tuples(
        st.sampled_from(["set", "get"]),
        st.integers(0, 1),  # which tenant
        st.sampled_from(["hello", "Hello", "hello world", "ünï", "a|b", "*"]),
        st.integers(0, len(POOL) - 1),  # vector index
    ),
    min_size=1,
    max_size=30,
)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def expected_answers(own: dict[str, np.ndarray], tenant: int, prompt: str, vector: np.ndarray, threshold: float):
    """(answers that are right, whether a miss is right) for a lookup, from the tenant's own entries."""
    if prompt in own:
        return {f"tenant {tenant}: {prompt}"}, False
    similar = {p: _cosine(vector, v) for p, v in own.items()}
    sure = {f"tenant {tenant}: {p}" for p, s in similar.items() if s >= threshold + MARGIN}
    maybe = {f"tenant {tenant}: {p}" for p, s in similar.items() if s >= threshold - MARGIN}
    return maybe, not sure


def check_isolation(caches, ops, threshold: float = 0.5) -> None:
    """``caches`` is a pair of managers with semantic caching on at ``threshold``, no guards."""
    stored: list[dict[str, np.ndarray]] = [{}, {}]  # per tenant: prompt -> its latest vector
    for kind, tenant, prompt, v in ops:
        cache = caches[tenant]
        vector = POOL[v] + 0.01 * tenant  # nearly equal across tenants: a tempting cross-tenant match
        if kind == "set":
            assert cache.set(prompt, f"tenant {tenant}: {prompt}", embedding=vector)
            stored[tenant][prompt] = vector
            continue
        got = cache.get(prompt, embedding=vector)
        right, miss_ok = expected_answers(stored[tenant], tenant, prompt, vector, threshold)
        assert got in right or (got is None and miss_ok), (tenant, prompt, got, right)
