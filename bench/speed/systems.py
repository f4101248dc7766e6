"""One adapter per system under test, all answering the same four calls.

``get(queries, i)`` looks up query ``i`` and returns whether it hit;
``set(queries, i)`` stores it; ``load(...)`` bulk-inserts entries (not timed);
``close()`` releases everything.  With ``embed`` unset every adapter is handed
the precomputed vector in its own API's native form, so that only cache work
is timed:

* ours     - ``LLMCachingManager.get/set(..., embedding=ndarray)``;
* RedisVL  - ``SemanticCache.check/store(vector=list[float])`` (its API takes lists);
* GPTCache - ``adapter.api.get/put``, whose embedding function returns the
  query's vector (GPTCache has no way to pass a vector with the call).

With ``embed`` set (a callable: list of texts -> array), every system embeds
prompts itself with that one model, as in production.

Thresholds are set to the same cosine similarity everywhere (see ``Threshold``).
"""

from __future__ import annotations

import atexit
import importlib.machinery
import importlib.util
import inspect
import shutil
import sys
import tempfile
import threading
import types
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .workload import Queries

__all__ = ["GPTCacheSystem", "OursSystem", "RedisVLSystem", "System", "SystemUnavailable", "Threshold"]

Embed = Callable[[list[str]], np.ndarray]


class SystemUnavailable(RuntimeError):
    """This system (or mode) cannot run here; the message says exactly why."""


class System(Protocol):
    name: str
    info: dict[str, Any]
    ping: Callable[[], Any] | None  # PING on the system's own Redis connection, if it has one
    unsafe_concurrent_writes: str | None  # why concurrent set() must not be run, if it must not

    def load(
        self, prompts: Sequence[str], vectors: np.ndarray, responses: Sequence[str], *, progress: bool
    ) -> None: ...

    def get(self, queries: Queries, i: int) -> bool: ...

    def set(self, queries: Queries, i: int) -> None: ...

    def close(self) -> None: ...


class Threshold:
    """One cosine-similarity threshold expressed in each system's own units."""

    def __init__(self, cosine: float) -> None:
        self.cosine = cosine

    @property
    def redis_distance(self) -> float:
        """RediSearch COSINE distance (RedisVL ``distance_threshold``): 1 - cos."""
        return 1 - self.cosine

    @property
    def gptcache_faiss(self) -> float:
        """GPTCache similarity_threshold for faiss (squared L2 = 2 - 2cos) with SearchDistanceEvaluation.

        That evaluation scores 4 - distance and hits when score >= 4 * threshold.
        """
        return (4 - (2 - 2 * self.cosine)) / 4

    @property
    def gptcache_redis(self) -> float:
        """The same for GPTCache's Redis store, whose distance is RediSearch COSINE (1 - cos)."""
        return (4 - (1 - self.cosine)) / 4


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def _bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="entry", disable=not enabled, leave=False)


# -- ours ----------------------------------------------------------------------


class OursSystem:
    """LLMCachingManager over a given backend, semantic on, no size limit."""

    def __init__(self, name: str, backend: Any, *, threshold: Threshold, embed: Embed | None, info: dict[str, Any]):
        from redis_semcache import LLMCachingManager

        self.name = name
        self.info = {"family": "ours", **info}
        self.ping = _redis_ping(backend)
        self.unsafe_concurrent_writes = None
        self._embed = embed
        self.manager = LLMCachingManager(
            backend,
            enable_semantic=True,
            semantic_threshold=threshold.cosine,
            max_cache_size=None,
            embedder=embed,  # None with precomputed vectors: every call passes its vector
            strict=True,  # a backend error must show up as an error, not as a fast miss
        )

    def load(self, prompts: Sequence[str], vectors: np.ndarray, responses: Sequence[str], *, progress: bool) -> None:
        # set_many with the vectors (embeddings=), per chunk, four chunks at a time: each
        # chunk is pipelined, and overlapping them keeps the server busy (load is not timed).
        pairs = list(zip(prompts, responses, strict=True))
        spans = _chunks(len(pairs), 1000)
        bar = _bar(len(pairs), self.name, progress)
        stored = 0

        def load_span(span: tuple[int, int]) -> int:
            lo, hi = span
            return self.manager.set_many(pairs[lo:hi], embeddings=vectors[lo:hi])

        with ThreadPoolExecutor(max_workers=4) as pool:
            for done in pool.map(load_span, spans):
                stored += done
                bar.update(done)
        bar.close()
        if stored != len(prompts):
            raise RuntimeError(f"{self.name}: stored {stored} of {len(prompts)} entries")

    def get(self, queries: Queries, i: int) -> bool:
        if self._embed is not None:
            return self.manager.get(queries.prompts[i]) is not None
        return self.manager.get(queries.prompts[i], embedding=queries.vectors[i]) is not None

    def fetch(self, queries: Queries, i: int) -> str | None:
        """The response found for query ``i`` (precomputed vector), or None on a miss."""
        found = self.manager.get(queries.prompts[i], embedding=queries.vectors[i])
        return None if found is None else str(found)

    def set(self, queries: Queries, i: int) -> None:
        if self._embed is not None:
            self.manager.set(queries.prompts[i], "response")
        else:
            self.manager.set(queries.prompts[i], "response", embedding=queries.vectors[i])

    def close(self) -> None:
        # No clear(): the run FLUSHALLs between systems, and deleting 100k indexed
        # entries takes longer than the backend's 1 s socket timeout.
        self.manager.close()


def _redis_ping(backend: Any) -> Callable[[], Any] | None:
    for attr in ("client", "redis", "_client", "_redis"):
        client = getattr(backend, attr, None)
        if client is not None and callable(getattr(client, "ping", None)):
            return client.ping  # type: ignore[no-any-return]
    return None


def ours_memory(*, threshold: Threshold, embed: Embed | None = None) -> OursSystem:
    from redis_semcache.backends.memory import InMemoryCacheBackend

    backend = InMemoryCacheBackend(max_size=None)
    return OursSystem(
        "ours memory", backend, threshold=threshold, embed=embed, info={"backend": "memory", "index": "numpy exact"}
    )


def ours_redis(
    url: str,
    algorithm: str,
    *,
    threshold: Threshold,
    embed: Embed | None = None,
    hnsw: dict[str, int] | None = None,
    options: dict[str, Any] | None = None,
) -> OursSystem:
    """Our Redis backend with no size limit; ``hnsw=None`` keeps the library's HNSW defaults.

    ``options`` are further RedisCacheBackend arguments (e.g. ``vector_dtype``);
    one the installed library does not take raises SystemUnavailable, so a
    benchmark written for newer code still runs, and says so, on older code.
    """
    try:
        from redis_semcache.backends.redis import RedisCacheBackend
    except ImportError as exc:
        raise SystemUnavailable(f"redis_semcache.backends.redis is not importable: {exc}") from exc
    kwargs: dict[str, Any] = {"url": url, "max_size": None, "index_algorithm": algorithm}
    if hnsw is not None:
        kwargs.update(
            hnsw_m=hnsw.get("m", 16),
            hnsw_ef_construction=hnsw.get("ef_construction", 200),
            hnsw_ef_runtime=hnsw.get("ef_runtime", 10),
        )
    unknown = sorted(set(options or {}) - set(inspect.signature(RedisCacheBackend).parameters))
    if unknown:
        raise SystemUnavailable(f"this RedisCacheBackend takes no {', '.join(unknown)}")
    kwargs.update(options or {})
    backend = RedisCacheBackend(**kwargs)
    return OursSystem(
        f"ours Redis {algorithm}",
        backend,
        threshold=threshold,
        embed=embed,
        info={"backend": "redis", "index": algorithm, "options": options or {}},
    )


# -- RedisVL -------------------------------------------------------------------


class RedisVLSystem:
    """redisvl.extensions.cache.llm.SemanticCache on its own index (FLAT or HNSW)."""

    def __init__(
        self,
        url: str,
        algorithm: str,
        *,
        dim: int,
        threshold: Threshold,
        embed: Embed | None = None,
        hnsw: dict[str, float] | None = None,
    ) -> None:
        try:
            import redisvl
            from redis import Redis
            from redisvl.extensions.cache.llm import SemanticCache
            from redisvl.extensions.cache.llm.schema import SemanticCacheIndexSchema
            from redisvl.index import SearchIndex
            from redisvl.utils.vectorize import CustomVectorizer
        except ImportError as exc:
            raise SystemUnavailable(f"redisvl is not installed ({exc}); pip install -e '.[bench]'") from exc
        self.name = f"RedisVL {algorithm}"
        self.info = {"family": "redisvl", "backend": "redis", "index": algorithm, "version": redisvl.__version__}
        self._embed = embed
        self._dim = dim
        name = f"redisvl_bench_{uuid.uuid4().hex[:8]}"
        self._client = Redis.from_url(url)
        self.ping = self._client.ping
        self.unsafe_concurrent_writes = None
        # SemanticCache always builds a FLAT index; for HNSW we create the index from
        # its own schema with the algorithm changed, and let the cache use it.
        schema = SemanticCacheIndexSchema.from_params(name, name, dim, "float32")
        if algorithm.upper() == "HNSW":
            schema = SemanticCacheIndexSchema.from_dict(_with_hnsw(schema.to_dict(), hnsw or {}))
        self._index = SearchIndex(schema, redis_client=self._client)
        self._index.create(overwrite=True, drop=True)
        vectorizer = CustomVectorizer(embed=self._embed_one, embed_many=self._embed_many)
        self.cache = SemanticCache(
            name=name,
            distance_threshold=threshold.redis_distance,
            vectorizer=vectorizer,
            redis_client=self._client,
            create_index=False,
        )
        self.info["schema"] = schema.to_dict()["fields"][-1]["attrs"]

    def _embed_one(self, text: str, **_: Any) -> list[float]:
        if self._embed is None:
            if text.startswith("dimension test"):  # CustomVectorizer probes embed and embed_many once
                return [1.0] + [0.0] * (self._dim - 1)
            raise AssertionError("RedisVL was asked to embed although a vector was passed")
        return [float(x) for x in self._embed([text])[0]]

    def _embed_many(self, texts: list[str], **_: Any) -> list[list[float]]:
        return [self._embed_one(t) for t in texts]

    def load(self, prompts: Sequence[str], vectors: np.ndarray, responses: Sequence[str], *, progress: bool) -> None:
        from redisvl.extensions.cache.llm.schema import CacheEntry

        bar = _bar(len(prompts), self.name, progress)
        for lo, hi in _chunks(len(prompts), 2000):
            rows = vectors[lo:hi].tolist()
            data = [
                CacheEntry(prompt=p, response=r, prompt_vector=v).to_dict("float32")
                for p, r, v in zip(prompts[lo:hi], responses[lo:hi], rows, strict=True)
            ]
            # What SemanticCache.store does per entry, batched: pipelined HSETs.
            self.cache.index.load(data, id_field="entry_id", batch_size=500)
            bar.update(hi - lo)
        bar.close()

    def get(self, queries: Queries, i: int) -> bool:
        if self._embed is not None:
            return bool(self.cache.check(prompt=queries.prompts[i]))
        return bool(self.cache.check(vector=queries.as_list(i)))

    def fetch(self, queries: Queries, i: int) -> str | None:
        """The response found for query ``i`` (precomputed vector), or None on a miss."""
        hits = self.cache.check(vector=queries.as_list(i))
        return str(hits[0]["response"]) if hits else None

    def set(self, queries: Queries, i: int) -> None:
        if self._embed is not None:
            self.cache.store(queries.prompts[i], "response")
        else:
            self.cache.store(queries.prompts[i], "response", vector=queries.as_list(i))

    def close(self) -> None:
        self._index.delete(drop=True)  # the index is ours, not the cache's (create_index=False)
        self._client.close()


def _with_hnsw(schema: dict[str, Any], hnsw: dict[str, float]) -> dict[str, Any]:
    for fld in schema["fields"]:
        if fld["type"] == "vector":
            fld["attrs"]["algorithm"] = "hnsw"
            fld["attrs"].update(hnsw)
    return schema


# -- GPTCache ------------------------------------------------------------------


def _refuse_pip_install(package: str, warn: bool = False) -> None:
    raise SystemUnavailable(f"GPTCache wanted to pip-install {package!r} at run time; refused")


def _gptcache_modules() -> Any:
    try:
        import gptcache
        import gptcache.utils
        import gptcache.utils.dependency_control
    except ImportError as exc:
        raise SystemUnavailable(f"gptcache is not installed ({exc}); pip install -e '.[bench]'") from exc
    # GPTCache installs missing optional packages with pip when first used; a
    # benchmark must never do that, so a missing package becomes SystemUnavailable.
    gptcache.utils.dependency_control.prompt_install = _refuse_pip_install
    gptcache.utils.prompt_install = _refuse_pip_install
    return gptcache


def _gptcache_redis_shims() -> list[str]:
    """Make GPTCache 0.1.44's Redis vector store importable with redis-py 8; return what was done.

    1. It imports ``redis.commands.search.indexDefinition``, which redis-py 6
       renamed ``index_definition``: alias the old name.
    2. Its import guard (``import_redis``) also demands ``redis_om``, which the
       vector store never uses (only GPTCache's Redis *scalar* store does).
       redis-om 1.2 would pin python-ulid<=3.1 (RedisVL has 4.x), add hiredis
       (changing redis-py's reply parser for every system in the run) and
       types-redis stubs for redis<5; so an empty placeholder module satisfies
       the guard instead.
    """
    done = []
    try:
        import redis.commands.search.indexDefinition  # noqa: F401
    except ImportError:
        import redis.commands.search.index_definition as new

        sys.modules["redis.commands.search.indexDefinition"] = new
        done.append("aliased redis.commands.search.indexDefinition to index_definition (renamed in redis-py 6)")
    if importlib.util.find_spec("redis_om") is None:
        placeholder = types.ModuleType("redis_om")
        placeholder.__spec__ = importlib.machinery.ModuleSpec("redis_om", None)
        sys.modules["redis_om"] = placeholder
        done.append("empty redis_om placeholder for GPTCache's import guard (the vector store does not use it)")
    return done


class GPTCacheSystem:
    """GPTCache with SQLite for scalars and faiss (its default vector store) or Redis for vectors.

    ``max_size`` is raised above the entry count: GPTCache's default (1000)
    would evict down to 1000 entries.  Its data directory is on /dev/shm when
    that exists, since Redis in this benchmark does not persist either.
    """

    def __init__(
        self,
        vector_store: str,
        *,
        dim: int,
        threshold: Threshold,
        max_size: int,
        url: str | None = None,
        embed: Embed | None = None,
        omp_threads: int = 0,
    ) -> None:
        gptcache = _gptcache_modules()
        self.name = f"GPTCache {vector_store}"
        self.info: dict[str, Any] = {"family": "gptcache", "version": gptcache.__version__, "scalar": "sqlite"}
        shims: list[str] = []
        if vector_store == "redis":
            if url is None:
                raise SystemUnavailable("GPTCache redis mode needs a Redis URL")
            shims = _gptcache_redis_shims()
        from gptcache import Cache, Config
        from gptcache.manager import manager_factory
        from gptcache.processor.pre import get_prompt
        from gptcache.similarity_evaluation import SearchDistanceEvaluation

        shm = Path("/dev/shm")
        self._dir = tempfile.mkdtemp(prefix="semcache-bench-gptcache-", dir=shm if shm.is_dir() else None)
        # Cache.init registers an exit hook that flushes faiss into this directory;
        # hooks run last-registered-first, so this removal runs after that flush.
        atexit.register(shutil.rmtree, self._dir, True)
        self._embed = embed
        self._local = threading.local()
        vector_params: dict[str, Any] = {"dimension": dim}
        if vector_store == "redis":
            from redis.connection import parse_url

            parts = parse_url(url)
            vector_params.update(
                host=parts.get("host", "localhost"),
                port=str(parts.get("port", 6379)),
                collection_name=f"gptcache_{uuid.uuid4().hex[:8]}",
            )
            sim = threshold.gptcache_redis
            self.info.update(backend="redis", index="FLAT")
        elif vector_store == "faiss":
            sim = threshold.gptcache_faiss
            self.info.update(backend="memory", index="faiss IndexFlatL2")
        else:
            raise SystemUnavailable(f"unknown GPTCache vector store {vector_store!r}")
        try:
            self.data_manager = manager_factory(
                f"sqlite,{vector_store}",
                data_dir=self._dir,
                vector_params=vector_params,
                eviction_params={"max_size": max_size},
            )
        except ImportError as exc:
            raise SystemUnavailable(f"GPTCache {vector_store} store cannot be imported: {exc!r}") from exc
        self.cache = Cache()
        self.cache.init(
            pre_embedding_func=get_prompt,
            embedding_func=self._embedding,
            data_manager=self.data_manager,
            similarity_evaluation=SearchDistanceEvaluation(),
            config=Config(similarity_threshold=sim),
        )
        self.info.update(similarity_threshold=sim, shims=shims, data_dir_on_shm=shm.is_dir())
        client = getattr(self.data_manager.v, "_client", None)  # RedisVectorStore's redis.Redis
        self.ping = None if client is None else client.ping
        self.unsafe_concurrent_writes = (
            "GPTCache is not safe for concurrent puts: with faiss, 4 threads calling put() crashed the "
            "process (glibc: 'corrupted size vs. prev_size while consolidating')"
        )
        self._omp_threads = omp_threads
        from gptcache.adapter import api

        self._api = api

    def _embedding(self, text: str, **_: Any) -> np.ndarray:
        if self._embed is not None:
            return np.asarray(self._embed([text])[0], dtype=np.float32)
        return self._local.vector

    def load(self, prompts: Sequence[str], vectors: np.ndarray, responses: Sequence[str], *, progress: bool) -> None:
        bar = _bar(len(prompts), self.name, progress)
        for lo, hi in _chunks(len(prompts), 5000):
            n = hi - lo
            self.data_manager.import_data(
                list(prompts[lo:hi]), list(responses[lo:hi]), list(vectors[lo:hi]), [None] * n
            )
            bar.update(n)
        bar.close()

    def _thread_setup(self, vector: np.ndarray) -> None:
        self._local.vector = vector
        if self._omp_threads and not getattr(self._local, "omp_set", False):
            # OpenMP's thread count is a per-thread setting: apply it in every calling thread.
            import faiss  # type: ignore[import-untyped]

            faiss.omp_set_num_threads(self._omp_threads)
            self._local.omp_set = True

    def get(self, queries: Queries, i: int) -> bool:
        self._thread_setup(queries.vectors[i])
        return self._api.get(queries.prompts[i], cache_obj=self.cache) is not None

    def set(self, queries: Queries, i: int) -> None:
        self._thread_setup(queries.vectors[i])
        self._api.put(queries.prompts[i], "response", cache_obj=self.cache)

    def close(self) -> None:
        self.data_manager.close()
