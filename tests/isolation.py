"""Tenant isolation, shared by every backend.

Random sets and gets in two caches that must not see each other (two
namespaces on one backend, or two cache names on one server).  Every response
names its tenant, and no lookup may return the other tenant's response, by
exact or by semantic match.  Vectors come from a tiny pool, so cross-tenant
semantic candidates exist on every run.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

POOL = np.random.default_rng(7).standard_normal((4, 8))

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


def check_isolation(caches, ops) -> None:
    """``caches`` is a pair of managers with semantic caching on (threshold < 1)."""
    for kind, tenant, prompt, v in ops:
        cache = caches[tenant]
        vector = POOL[v] + 0.01 * tenant  # nearly equal across tenants: a tempting cross-tenant match
        if kind == "set":
            assert cache.set(prompt, f"tenant {tenant}: {prompt}", embedding=vector)
        else:
            got = cache.get(prompt, embedding=vector)
            assert got is None or got.startswith(f"tenant {tenant}:"), (tenant, prompt, got)
