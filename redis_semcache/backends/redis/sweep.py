"""Invalidation: deleting by ids, tags, version, pattern, or everything, in one partition.

A sweep reads pages of matching entries in ``seq`` order (keyset paging, no
server-side cursor) and deletes each page with ``delete.lua`` in the same
round trip as the next read.  Every round trip is safe to send twice - a page
read is a pure read, a delete carries a receipt - so a lost reply or a dropped
connection costs a re-send, never a page, and an abandoned sweep leaves
nothing allocated on the server.  A sweep that cannot finish raises
InvalidationError; it never returns with matches left behind.

:class:`Invalidation` is a part of :class:`~.partition.Partition`, which
supplies the attributes and helpers declared at the top of the class.
"""

from __future__ import annotations

import fnmatch
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..._errors import BackendError, BackendUnavailableError, InvalidationError
from ..._keys import split_key
from . import fields as F
from .codec import parse_info, parse_rows, text
from .errors import IndexMissingError
from .layout import IndexName, KeyLayout
from .queries import LONG_PROMPTS, SHORT_PROMPTS, SweepQuery, glob_filters, tag_filter
from .replication import Durability, Needs, confirm, info_command, needs_from_info
from .wire import Command, Script, WirePlan

__all__ = ["Invalidation"]

log = logging.getLogger("redis_semcache.redis")

T = TypeVar("T")
_UNBOUNDED = 2**63 - 1  # a snapshot no seq reaches


class Invalidation:
    """The invalidation plans of a partition."""

    # Supplied by Partition.
    PAGE: int
    LONG_PROMPT_PAGE: int
    STEP_RETRIES: int
    _layout: KeyLayout
    _number: int
    _prefix: str
    _clock: Callable[[], float]
    _index: IndexName | None
    durability: Durability

    def _ready(self) -> WirePlan[IndexName]:
        raise NotImplementedError

    def _script(self, name: str, *args: Any, extra_keys: Sequence[str] = (), now: float | None = None) -> Script:
        raise NotImplementedError

    def _evalsha(self, name: str, stamp: str, *args: Any, extra_keys: Sequence[str] = ()) -> Command:
        raise NotImplementedError

    def _pipeline(self, commands: Sequence[Command]) -> WirePlan[list[Any]]:
        raise NotImplementedError

    def _wait_indexed(self, full: str) -> WirePlan[None]:
        raise NotImplementedError

    def on_node(self, *args: Any) -> Command:
        raise NotImplementedError

    def delete_keys(self, keys: Sequence[str]) -> WirePlan[int]:
        ids = [k for k in dict.fromkeys(keys) if split_key(k) is not None]
        if not ids:
            return 0
        tally = [0]
        try:
            yield from self._ready()
            needs: Needs | None = None
            for i in range(0, len(ids), self.PAGE):
                stamp = repr(float(self._clock()))
                page = self._evalsha(
                    "delete", stamp, "invalidations", "ids", *ids[i : i + self.PAGE], extra_keys=(self._receipt(),)
                )
                if needs is None:  # the first page also reads what the deletion must wait for
                    info, deleted = yield from self._idempotent(self._pipeline, [self._replication_info(), page])
                    needs = needs_from_info(info, self.durability)
                else:
                    (deleted,) = yield from self._idempotent(self._pipeline, [page])
                tally[0] += int(deleted)
            yield from self._settle(needs, tally[0])
        except InvalidationError:
            raise
        except BackendError as exc:
            raise _incomplete(tally[0], exc) from exc
        return tally[0]

    def delete_tags(self, tags: Sequence[str]) -> WirePlan[int]:
        if not tags:
            return 0
        return (yield from self._sweep([SweepQuery(tag_filter(F.TAG_H, list(tags)), batch=self.PAGE)]))

    def delete_version(self, version: str) -> WirePlan[int]:
        return (yield from self._sweep([SweepQuery(tag_filter(F.VERSION_H, [version]), batch=self.PAGE)]))

    def delete_pattern(self, pattern: str) -> WirePlan[int]:
        narrow = glob_filters(pattern)
        sweeps = [SweepQuery(SHORT_PROMPTS, narrow.short, with_prompt=True, batch=self.PAGE)]
        if narrow.long_possible:  # long prompts travel in small pages
            sweeps.append(SweepQuery(LONG_PROMPTS, narrow.long, with_prompt=True, batch=self.LONG_PROMPT_PAGE))
        return (yield from self._sweep(sweeps, confirm=lambda prompt: fnmatch.fnmatchcase(prompt, pattern)))

    def seen_seq(self, seq: int) -> None:
        """Remember the highest write sequence number this process saw (see :meth:`_snapshot`)."""
        self._max_seq = max(getattr(self, "_max_seq", 0), seq)

    def _snapshot(self, seq_now: int | None) -> int:
        """The sweep's upper seq bound, from the ``seq`` counter it read.

        A counter that vanished (an eviction policy, a stray DEL) or reads below a
        value this process already saw has restarted: entries written before hold
        higher seqs, and a bounded sweep would skip them as "written meanwhile".
        Then the sweep takes every match, unbounded (entries written during it may
        go too, which a removal may do).
        """
        seen = getattr(self, "_max_seq", 0)
        if seq_now is None and not seen:  # nothing written yet, or lost before this process saw it
            return _UNBOUNDED
        if seq_now is None or seq_now < seen:
            log.warning(
                "redis_semcache: the write counter %s %s; sweeping every match",
                self._layout.seq(self._number),
                "vanished" if seq_now is None else f"went back from {seen} to {seq_now}",
            )
            return _UNBOUNDED
        self.seen_seq(seq_now)
        return seq_now

    def settle_removal(self) -> WirePlan[None]:
        """Wait for this partition's replicas after a removal made elsewhere (``drop``)."""
        info = yield self._replication_info()
        yield from self._settle(needs_from_info(info, self.durability), 0)

    def _replication_info(self) -> Command:
        return info_command(self._layout.sync(self._number))

    def _settle(self, needs: Needs | None, deleted: int) -> WirePlan[None]:
        """Make the deletes made so far outlive a failover (replication.py), or raise InvalidationError."""
        sync = self._layout.sync(self._number)
        yield from confirm(sync, sync, needs, self.durability, deleted)

    def _receipt(self) -> str:
        """A new receipt key for one delete script call (delete.lua)."""
        return self._layout.receipt(self._number, secrets.token_hex(8))

    def _idempotent(self, step: Callable[..., WirePlan[T]], *args: Any) -> WirePlan[T]:
        """Run the plan ``step(*args)``, which is safe to repeat, again if the connection fails.

        redis-py re-sends a command once its connection drops (client.py); this
        also covers a reply that never came (a timeout, which it does not retry).
        """
        for _ in range(self.STEP_RETRIES):
            try:
                return (yield from step(*args))
            except BackendUnavailableError as exc:
                log.info("redis_semcache: repeating an invalidation step after: %s", exc)
        return (yield from step(*args))

    # -- internals ---------------------------------------------------------

    def _sweep(
        self,
        sweeps: Sequence[SweepQuery],
        *,
        confirm: Callable[[str], bool] | None = None,
        counter: str = "invalidations",
    ) -> WirePlan[int]:
        """Delete the entries matching ``sweeps`` that exist when the sweep starts.

        Each sweep reads pages of matching entries in ``seq`` order, each page
        starting after the last ``seq`` seen; the deletion of the previous page
        rides in the same pipeline as the next read.  Only entries with ``seq``
        up to the snapshot taken in the first round trip are candidates, and
        the delete script re-checks each entry's ``seq``, so an entry written or
        rewritten during the sweep is never deleted by it.

        Every round trip is safe to repeat (a page read is a pure read, a delete
        carries a receipt), so a lost reply or a dropped connection costs a
        re-send, never a page.  A sweep that cannot finish raises
        InvalidationError; it never returns with matches left behind.
        """
        tally = [0]
        try:
            try:
                needs = yield from self._sweep_once(sweeps, confirm, counter, tally)
            except IndexMissingError:
                self._index = None  # dropped or flushed: recreate it and sweep again
                needs = yield from self._sweep_once(sweeps, confirm, counter, tally)
            yield from self._settle(needs, tally[0])
        except InvalidationError:
            raise
        except BackendError as exc:
            raise _incomplete(tally[0], exc) from exc
        return tally[0]

    def _sweep_once(
        self, sweeps: Sequence[SweepQuery], confirm: Callable[[str], bool] | None, counter: str, tally: list[int]
    ) -> WirePlan[Needs | None]:
        index_name = self._layout.index(self._number, (yield from self._ready()))
        snapshot: int | None = None
        needs: Needs | None = None
        pending: list[str] = []
        for sweep in sweeps:
            after: int | None = None  # every match with seq <= after has been seen
            # How many seqs past ``after`` the next page looks at.  Each page sorts
            # the rows in its range, so a range reaching to the snapshot would make
            # a sweep quadratic; the window follows the density of matches instead.
            window: int | None = None
            while True:
                upto = None if snapshot == _UNBOUNDED else snapshot
                if upto is not None and after is not None and window is not None:
                    upto = min(upto, after + window)
                receipt = self._receipt() if pending else None
                flushed, seq_now, indexing, info, reply = yield from self._idempotent(
                    self._page, index_name, sweep, after, upto, snapshot is None, pending, counter, receipt
                )
                tally[0] += flushed
                pending = []
                if info is not None:
                    needs = needs_from_info(info, self.durability)
                if snapshot is None:
                    if indexing:  # made by another process (or after a restart) and still scanning: not ready
                        yield from self._wait_indexed(index_name)
                        continue
                    snapshot = self._snapshot(seq_now)
                rows = [row for row in parse_rows(reply) if F.SEQ in row]
                seqs = [int(text(row[F.SEQ])) for row in rows]
                for row, seq in zip(rows, seqs, strict=True):
                    key = text(row.get("__key", b""))
                    if seq > snapshot or not key.startswith(self._prefix):
                        continue  # written after the sweep began, or not ours
                    if confirm is not None and not confirm(text(row.get(F.PROMPT, b""))):
                        continue
                    pending.extend((key[len(self._prefix) :], str(seq)))
                if len(seqs) >= sweep.batch:  # a full page: seen up to its last row
                    start = min(seqs) - 1 if after is None else after
                    after = max(seqs)
                    window = max(sweep.batch, after - start)
                elif upto is None or upto >= snapshot:  # the rest of the range held less than a page
                    break
                else:  # the window held less than a page: look further next time
                    after, window = upto, 2 * (window or sweep.batch)
                if after >= snapshot:
                    break
        if pending:
            last = self._evalsha(
                "delete", repr(float(self._clock())), counter, "matched", *pending, extra_keys=(self._receipt(),)
            )
            tally[0] += int((yield from self._idempotent(self._pipeline, [last]))[0])
        return needs

    def _page(
        self,
        index_name: str,
        sweep: SweepQuery,
        after: int | None,
        upto: int | None,
        first: bool,
        pending: list[str],
        counter: str,
        receipt: str | None,
    ) -> WirePlan[tuple[int, int | None, bool, Any, Any]]:
        """One round trip: delete ``pending``; on the ``first`` page read the seq snapshot,
        whether the index is still scanning and the node's replication facts (replication.py);
        read the page of seqs in ``(after, upto]``."""
        commands = []
        if pending:
            stamp = repr(float(self._clock()))
            commands.append(self._evalsha("delete", stamp, counter, "matched", *pending, extra_keys=(receipt or "",)))
        if first:
            commands += [
                Command(("GET", self._layout.seq(self._number))),
                self.on_node("FT.INFO", index_name),
                self._replication_info(),
            ]
        commands.append(self.on_node("FT.AGGREGATE", index_name, *sweep.args(after, upto)))
        results = yield from self._pipeline(commands)
        flushed = int(results[0]) if pending else 0
        seq_now = int(text(results[-4])) if first and results[-4] is not None else None
        indexing = first and bool(int(parse_info(results[-3]).get("indexing", 0)))
        return flushed, seq_now, indexing, results[-2] if first else None, results[-1]


def _incomplete(deleted: int, exc: BackendError) -> InvalidationError:
    return InvalidationError(
        f"invalidation stopped after deleting {deleted} entries; matching entries may remain ({exc})", deleted=deleted
    )
