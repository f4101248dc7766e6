"""Server-sent events as the chat-completions stream uses them: ``data: <json>`` lines.

:class:`EventReader` splits the bytes of an upstream stream, however they are
cut, into the JSON payloads of its ``data:`` events; :func:`encode` frames a
replayed chunk.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["DONE", "EventReader", "encode"]

DONE = b"data: [DONE]\n\n"


def encode(chunk: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


class EventReader:
    """Feed bytes; collects each ``data:`` payload that parses as a JSON object, and ``[DONE]``."""

    def __init__(self) -> None:
        self._pending = b""
        self._data: list[bytes] = []
        self.done = False

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """The chunks completed by ``data``."""
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        out = []
        for raw in lines:
            line = raw.rstrip(b"\r")
            if line.startswith(b"data:"):
                self._data.append(line[5:].lstrip(b" "))
            elif not line and self._data:  # a blank line ends the event
                payload, self._data = b"\n".join(self._data), []
                if payload == b"[DONE]":
                    self.done = True
                    continue
                try:
                    chunk = json.loads(payload)
                except ValueError:
                    continue  # not a chunk: passed through, not assembled
                if isinstance(chunk, dict):
                    out.append(chunk)
        return out
