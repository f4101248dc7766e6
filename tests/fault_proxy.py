"""A TCP proxy between redis-py and a test redis-server that injects faults on cue.

Faults are keyed to commands, never to time: the proxy parses the RESP
stream in both directions, pairs every reply with the command it answers
(replies come back in order, pipelines included), and acts when a rule
matches the n-th occurrence of a command::

    with FaultProxy(server.port) as proxy:
        cache = create_redis_cache_manager(url=proxy.url, ...)
        proxy.lose_reply("FT.AGGREGATE")     # the server runs it; the client gets a dead connection
        proxy.cut_after("EVALSHA", nth=2)    # the reply arrives, then the connection drops
        proxy.cut_before("SET")              # the connection drops before the server sees it
        proxy.swallow_reply("SET")           # the reply never comes, the connection stays open
        proxy.on_command("EVALSHA", flush)   # call flush() just before the server sees it
        with proxy.outage(): ...             # every connection cut and refused

Each rule fires once (``times=`` for more, ``times=None`` for ever) and can
be narrowed to commands whose arguments contain ``arg`` (e.g. a script's SHA).
``proxy.seen`` counts the commands that went through, by name.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

__all__ = ["FaultProxy"]

LOSE_REPLY = "lose_reply"  # forward the command; drop its reply and close the client's connection
SWALLOW_REPLY = "swallow_reply"  # forward the command; drop its reply, keep the connection open
CUT_BEFORE = "cut_before"  # close the connection instead of forwarding the command
CUT_AFTER = "cut_after"  # forward the command and its reply, then close the connection
CALL = "call"  # run a callback just before forwarding the command


@dataclass
class Rule:
    command: str
    action: str
    nth: int = 1
    times: int | None = 1
    arg: bytes | None = None
    callback: Callable[[], None] | None = None
    matched: int = 0
    fired: int = 0

    def wants(self, name: str, args: list[bytes]) -> bool:
        """Count a matching command; True when this occurrence is one to act on."""
        if name != self.command or (self.arg is not None and self.arg not in args):
            return False
        self.matched += 1
        if self.matched < self.nth or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True


class Incomplete(Exception):
    """The buffer does not yet hold a whole RESP value."""


def _line(buf: bytes, pos: int) -> tuple[bytes, int]:
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise Incomplete
    return buf[pos:end], end + 2


def _skip(buf: bytes, pos: int) -> int:
    """The position just after the RESP2/RESP3 value starting at ``pos``."""
    if pos >= len(buf):
        raise Incomplete
    kind = buf[pos : pos + 1]
    head, pos = _line(buf, pos + 1)
    if kind in (b"$", b"=", b"!"):  # bulk string, verbatim string, bulk error
        n = int(head)
        if n < 0:
            return pos
        if len(buf) < pos + n + 2:
            raise Incomplete
        return pos + n + 2
    if kind in (b"*", b"~", b">"):  # array, set, push
        for _ in range(max(0, int(head))):
            pos = _skip(buf, pos)
        return pos
    if kind in (b"%", b"|"):  # map, attribute (an attribute precedes the value it annotates)
        for _ in range(2 * int(head)):
            pos = _skip(buf, pos)
        return _skip(buf, pos) if kind == b"|" else pos
    return pos  # simple string, error, integer, null, double, boolean, big number


def _command(buf: bytes, pos: int) -> tuple[list[bytes], int]:
    """One client command (a RESP array of bulk strings, or an inline command)."""
    if pos >= len(buf):
        raise Incomplete
    if buf[pos : pos + 1] != b"*":
        line, end = _line(buf, pos)
        return line.split(), end
    head, pos = _line(buf, pos + 1)
    args = []
    for _ in range(int(head)):
        size, pos = _line(buf, pos + 1)
        n = int(size)
        if len(buf) < pos + n + 2:
            raise Incomplete
        args.append(buf[pos : pos + n])
        pos += n + 2
    return args, pos


@dataclass
class _Link:
    """One client connection and its server connection."""

    client: socket.socket
    server: socket.socket
    pending: deque[tuple[str, str | None]] = field(default_factory=deque)  # (command name, action on its reply)
    closed: bool = False

    def close(self) -> None:
        self.closed = True
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class FaultProxy:
    """Listens on a free loopback port and forwards to ``127.0.0.1:<upstream_port>``."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._links: list[_Link] = []
        self._down = False
        self._stopped = False
        self.seen: Counter[str] = Counter()
        self.faults = 0  # how many times a rule acted
        self._accepter = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    # -- rules -------------------------------------------------------------

    def add(self, command: str, action: str, *, nth: int = 1, times: int | None = 1,
            arg: str | bytes | None = None, callback: Callable[[], None] | None = None) -> Rule:  # fmt: skip
        raw = arg.encode() if isinstance(arg, str) else arg
        rule = Rule(command.upper(), action, nth=nth, times=times, arg=raw, callback=callback)
        with self._lock:
            self._rules.append(rule)
        return rule

    def lose_reply(self, command: str, *, nth: int = 1, times: int | None = 1, arg: str | bytes | None = None) -> Rule:
        return self.add(command, LOSE_REPLY, nth=nth, times=times, arg=arg)

    def swallow_reply(
        self, command: str, *, nth: int = 1, times: int | None = 1, arg: str | bytes | None = None
    ) -> Rule:
        return self.add(command, SWALLOW_REPLY, nth=nth, times=times, arg=arg)

    def cut_before(self, command: str, *, nth: int = 1, times: int | None = 1, arg: str | bytes | None = None) -> Rule:
        return self.add(command, CUT_BEFORE, nth=nth, times=times, arg=arg)

    def cut_after(self, command: str, *, nth: int = 1, times: int | None = 1, arg: str | bytes | None = None) -> Rule:
        return self.add(command, CUT_AFTER, nth=nth, times=times, arg=arg)

    def on_command(self, command: str, callback: Callable[[], None], *, nth: int = 1, times: int | None = 1) -> Rule:
        return self.add(command, CALL, nth=nth, times=times, callback=callback)

    def clear_rules(self) -> None:
        with self._lock:
            self._rules.clear()

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """Cut every connection and refuse new ones until the block ends."""
        with self._lock:
            self._down = True
            links, self._links = self._links, []
        for link in links:
            link.close()
        try:
            yield
        finally:
            with self._lock:
                self._down = False

    def cut_all(self) -> None:
        """Drop every open connection once (clients reconnect)."""
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.close()

    # -- plumbing ----------------------------------------------------------

    def start(self) -> FaultProxy:
        self._accepter.start()
        return self

    def stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut_all()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                down = self._down
            if down:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            link = _Link(client, server)
            with self._lock:
                self._links.append(link)
            threading.Thread(target=self._requests, args=(link,), daemon=True).start()
            threading.Thread(target=self._replies, args=(link,), daemon=True).start()

    def _decide(self, args: list[bytes]) -> tuple[str, str | None]:
        name = args[0].decode("utf-8", "replace").upper() if args else ""
        with self._lock:
            self.seen[name] += 1
            for rule in self._rules:
                if rule.wants(name, args):
                    self.faults += 1
                    return name, rule.action if rule.action != CALL else f"{CALL}:{id(rule)}"
        return name, None

    def _callback(self, action: str) -> None:
        wanted = int(action.split(":", 1)[1])
        with self._lock:
            rule = next(r for r in self._rules if id(r) == wanted)
        assert rule.callback is not None
        rule.callback()

    def _requests(self, link: _Link) -> None:
        """Client -> server: split the stream into commands, act on the rules."""
        buf = b""
        try:
            while not link.closed:
                data = link.client.recv(65536)
                if not data:
                    break
                buf += data
                pos = 0
                out = b""
                while True:
                    try:
                        args, end = _command(buf, pos)
                    except Incomplete:
                        break
                    name, action = self._decide(args)
                    if action == CUT_BEFORE:
                        if out:
                            link.server.sendall(out)
                        link.close()
                        return
                    if action is not None and action.startswith(CALL):
                        if out:
                            link.server.sendall(out)
                            out = b""
                        self._callback(action)
                        action = None
                    link.pending.append((name, action))
                    out += buf[pos:end]
                    pos = end
                buf = buf[pos:]
                if out:
                    link.server.sendall(out)
        except OSError:
            pass
        link.close()

    def _replies(self, link: _Link) -> None:
        """Server -> client: forward each reply, or act on its command's rule."""
        buf = b""
        try:
            while not link.closed:
                data = link.server.recv(65536)
                if not data:
                    break
                buf += data
                pos = 0
                out = b""
                while True:
                    try:
                        end = _skip(buf, pos)
                    except Incomplete:
                        break
                    if buf[pos : pos + 1] == b">":  # a push message answers no command
                        out += buf[pos:end]
                        pos = end
                        continue
                    _, action = link.pending.popleft() if link.pending else ("", None)
                    if action == LOSE_REPLY:
                        if out:
                            link.client.sendall(out)
                        link.close()
                        return
                    if action != SWALLOW_REPLY:
                        out += buf[pos:end]
                    pos = end
                    if action == CUT_AFTER:
                        link.client.sendall(out)
                        link.close()
                        return
                buf = buf[pos:]
                if out:
                    link.client.sendall(out)
        except OSError:
            pass
        link.close()
