"""Invalidation sweeps in small pages: which seq ranges they read, and how they survive faults.

The partition's page sizes are lowered (``Partition.PAGE`` and
``LONG_PROMPT_PAGE`` are class attributes), so a dozen entries make several
pages.  A recording connection class keeps every command the sweep sends; a
dedicated redis-server per test (the seqs of a fresh cache start at 1) sits
behind the fault proxy, which loses replies on cue.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from redis_semcache import BackendUnavailableError, InvalidationError, LLMCachingManager, make_cache_key
from redis_semcache.backends.redis import RedisCacheBackend
from redis_semcache.backends.redis import fields as F
from redis_semcache.backends.redis.queries import PATTERN_KEY_CHARS
from redis_semcache.backends.redis.scripts import sha

PAGE = 4
DELETE = sha("delete")
RUNAWAY = 100  # page reads after which a sweep is taken to be looping for ever


class Recorder:
    """A connection class that records every command, pipelines included, and every socket write."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, ...]] = []
        self.writes = 0
        self.before_second_read: Callable[[], None] | None = None  # runs once, as that read is packed
        recorder = self

        class Connection(redis.Connection):
            def pack_command(self, *args):
                recorder.saw(args)
                return super().pack_command(*args)

            def pack_commands(self, commands):
                for args in commands:
                    recorder.saw(args)
                return super().pack_commands(commands)

            def send_packed_command(self, command, check_health=True):
                recorder.writes += 1
                return super().send_packed_command(command, check_health)

        self.connection_class = Connection

    def saw(self, args) -> None:
        command = tuple(a.decode() if isinstance(a, bytes) else str(a) for a in args)
        self.commands.append(command)
        if command[0] == "FT.AGGREGATE" and len(self.reads()) == 2 and self.before_second_read is not None:
            run, self.before_second_read = self.before_second_read, None
            run()
        if len(self.reads()) > RUNAWAY:
            raise RuntimeError("the sweep keeps reading: it does not advance")

    def reads(self) -> list[tuple[str, ...]]:
        return [c for c in self.commands if c[0] == "FT.AGGREGATE"]

    def ranges(self) -> list[tuple[str, str]]:
        """The ``(after upto]`` seq range of each page read, as sent."""
        return [re.search(r"@seq:\[(\S+) (\S+)\]", read[2]).groups() for read in self.reads()]  # type: ignore[union-attr]

    def take(self) -> int:
        writes, self.writes = self.writes, 0
        self.commands.clear()
        return writes


def backend_at(url: str, recorder: Recorder, **pool_kwargs: Any) -> RedisCacheBackend:
    kwargs = {"socket_timeout": 1.0, **redis.connection.parse_url(url), **pool_kwargs}
    pool = redis.ConnectionPool(connection_class=recorder.connection_class, **kwargs)
    backend = RedisCacheBackend(client=redis.Redis(connection_pool=pool), name="pages", max_size=None)
    backend.partition.PAGE = PAGE
    return backend


def filled(
    url: str, tags_by_seq: list[list[str]], recorder: Recorder | None = None, **pool_kwargs: Any
) -> LLMCachingManager:
    """A cache whose entry ``i`` (seq ``i + 1``) has the tags ``tags_by_seq[i]``."""
    cache = LLMCachingManager(backend_at(url, recorder or Recorder(), **pool_kwargs), embedder=None, strict=True)
    for i, tags in enumerate(tags_by_seq):
        assert cache.set(f"entry {i}", i, tags=tags)
    client = redis.Redis.from_url(url)
    try:
        seqs = [int(client.hget(f"semcache:{{pages:0}}:e:{make_cache_key(f'entry {i}')}", "seq")) for i in range(3)]
    finally:
        client.close()
    assert seqs == [1, 2, 3], "the seqs of a fresh cache count its writes from 1"
    return cache


def test_dense_matches_are_read_one_page_after_the_other_and_a_last_full_page_ends_the_sweep(server):
    recorder = Recorder()
    cache = filled(server.url, [["t"]] * 12, recorder)
    recorder.take()
    assert cache.invalidate(tags=["t"]) == 12
    # The first read is unbounded (the snapshot, seq 12, arrives with it); each later read covers the
    # next page's worth of seqs.  The third page ends at the snapshot: no fourth read.
    assert recorder.ranges() == [("-inf", "+inf"), ("(4", "8"), ("(8", "12")]
    assert recorder.take() == 4, "three page reads (the 2nd and 3rd carry a delete), then the last delete"
    assert cache.backend.size() == 0


def test_entries_written_after_the_first_page_survive_the_sweep(server):
    """Entries 0, 5 and 10 are rewritten, and two more written, after the first page read took the
    snapshot (seq 12) and before the second: entry 0 is in the first page's delete, but with a new
    seq; the others are past the snapshot."""
    recorder = Recorder()
    cache = filled(server.url, [["t"]] * 12, recorder)
    writer = LLMCachingManager(RedisCacheBackend(url=server.url, name="pages", max_size=None), embedder=None)
    late = ["entry 0", "entry 5", "entry 10", "fresh 1", "fresh 2"]

    def write_late() -> None:
        for prompt in late:
            assert writer.set(prompt, "new", tags=["t"])

    recorder.before_second_read = write_late
    recorder.take()
    assert cache.invalidate(tags=["t"]) == 9
    assert recorder.before_second_read is None  # the writes did run mid-sweep
    assert [cache.get(p) for p in late] == ["new"] * 5 and cache.backend.size() == 5


def test_the_read_window_widens_over_gaps_and_narrows_where_matches_are_dense(server):
    """Matches at seqs 1, 3, 5, 7 and 41..56; the gap 8..40 holds other entries."""
    tagged = {1, 3, 5, 7, *range(41, 57)}
    recorder = Recorder()
    cache = filled(server.url, [["t"] if seq in tagged else ["other"] for seq in range(1, 57)], recorder)
    recorder.take()
    assert cache.invalidate(tags=["t"]) == len(tagged)
    assert recorder.ranges() == [
        ("-inf", "+inf"),  # 1, 3, 5, 7: a page spanning 7 seqs, so the next read looks 7 seqs ahead
        ("(7", "14"),  # nothing: twice as far next time
        ("(14", "28"),  # nothing: twice as far again
        ("(28", "56"),  # 41..44 (a full page), up to the snapshot
        ("(44", "56"),  # the page held 4 matches in 16 seqs: 45..48
        ("(48", "52"),  # 4 in 4 seqs: a window of one page, 49..52
        ("(52", "56"),  # 53..56, the snapshot: done
    ]
    assert cache.backend.size() == 56 - len(tagged)


def test_a_pattern_sweep_steps_over_full_pages_of_prompts_the_glob_rejects(server):
    """The prompts "user_1" and "user-1" pass the index's filter for "user 1" (every non-alphanumeric
    character is mapped to "_") but not the glob: two full pages of them come before the matches."""
    recorder = Recorder()
    cache = LLMCachingManager(backend_at(server.url, recorder), embedder=None, strict=True)
    cache.backend.partition.PAGE = 2
    rejected = [(p, m) for p in ("user_1", "user-1") for m in ("m1", "m2")]
    for prompt, model in [*rejected, ("user 1", "m1"), ("user 1", "m2")]:
        cache.set(prompt, "a", model=model)
    assert cache.invalidate(pattern="user 1") == 2
    assert [cache.get(p, model=m) for p, m in rejected] == ["a"] * 4
    assert cache.get("user 1", model="m1") is None and cache.get("user 1", model="m2") is None


def test_every_sweep_reads_pages_of_the_partitions_page_sizes(server):
    recorder = Recorder()
    cache = filled(server.url, [["t"]] * 10, recorder)
    cache.backend.partition.LONG_PROMPT_PAGE = 2
    for i in range(5):
        cache.set(f"entry long {i} " + "x" * PATTERN_KEY_CHARS, i)
    recorder.take()

    def page_sizes() -> set[tuple[bool, int]]:
        """(reads long prompts, MAX) of each page read since the last call."""
        # Every read after the first (which takes the snapshot) stops at the snapshot, the long prompts' too.
        assert [upto for _, upto in recorder.ranges()].count("+inf") == 1
        long = f"@{F.PROMPT_LEN}:[({PATTERN_KEY_CHARS} "
        sizes = {(long in read[2], int(read[read.index("MAX") + 1])) for read in recorder.reads()}
        recorder.take()
        return sizes

    assert cache.invalidate(pattern="entry *") == 15
    assert page_sizes() == {(False, PAGE), (True, 2)}
    for i in range(10):
        cache.set(f"entry {i}", i, version="v1")
    recorder.take()
    assert cache.invalidate(version="v1") == 10 and page_sizes() == {(False, PAGE)}
    for i in range(10):
        cache.set(f"entry {i}", i)
    recorder.take()
    assert cache.clear() and page_sizes() == {(False, PAGE)}
    assert cache.backend.size() == 0


# -- faults: one lost reply, or a connection that stays dead ------------------------------------------


@pytest.mark.parametrize("nth", [1, 3], ids=["a delete riding with a page read", "the last delete"])
def test_a_re_sent_delete_reports_what_its_first_run_deleted(server, proxy, nth):
    cache = filled(proxy.url, [["t"]] * 10)
    proxy.lose_reply("EVALSHA", nth=nth, arg=DELETE)  # deletes: with the 2nd and 3rd reads, then the last
    assert cache.invalidate(tags=["t"]) == 10
    assert proxy.faults == 1 and cache.backend.size() == 0
    assert cache.get_statistics()["invalidations"] == 10


def test_a_re_sent_delete_of_ids_reports_what_its_first_run_deleted(server, proxy):
    cache = filled(proxy.url, [[]] * 10)
    proxy.lose_reply("EVALSHA", nth=2, arg=DELETE)  # the second of three deletes of 4, 4 and 2 ids
    assert cache.invalidate(keys=[make_cache_key(f"entry {i}") for i in range(10)]) == 10
    assert proxy.faults == 1 and cache.backend.size() == 0


def test_a_step_repeated_after_a_lost_reply_is_logged_with_its_cause(server, proxy, caplog):
    cache = filled(proxy.url, [["t"]] * 10, retry=Retry(NoBackoff(), 0))  # redis-py does not re-send it,
    proxy.lose_reply("FT.AGGREGATE", nth=2)  # the sweep does
    with caplog.at_level(logging.INFO, logger="redis_semcache.redis"):
        assert cache.invalidate(tags=["t"]) == 10
    [record] = [r for r in caplog.records if "repeating" in r.getMessage()]
    assert isinstance(record.args[0], BackendUnavailableError)  # type: ignore[index]
    assert record.getMessage() == f"redis_semcache: repeating an invalidation step after: {record.args[0]}"  # type: ignore[index]


@pytest.mark.parametrize("kind", ["tags", "keys"])
def test_a_dead_connection_mid_sweep_raises_with_the_count_deleted_so_far(server, proxy, kind):
    cache = filled(proxy.url, [["t"]] * 10)
    keys = [make_cache_key(f"entry {i}") for i in range(10)]
    if kind == "tags":  # the third read carries the second page's delete; no reply ever again
        proxy.lose_reply("FT.AGGREGATE", nth=3, times=None)
    else:  # the second delete of ids, and every one after it
        proxy.lose_reply("EVALSHA", nth=2, times=None, arg=DELETE)
    with pytest.raises(InvalidationError) as failed:
        cache.invalidate(**{kind: ["t"] if kind == "tags" else keys})
    cause = failed.value.__cause__
    assert failed.value.deleted == PAGE  # the first page's delete was confirmed; the second never was
    assert str(failed.value) == (
        f"invalidation stopped after deleting {PAGE} entries; matching entries may remain ({cause})"
    )
    assert isinstance(cause, BackendUnavailableError)
