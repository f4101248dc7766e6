"""From what the caller asks (a prompt, chat messages, or a prompt and the text to
compare) to the two things the cache keys on.

* ``text``: the normalised text that is embedded and compared semantically, and
  stored as the entry's prompt;
* ``context``: everything else that changes the answer (the system prompt,
  earlier turns, tool messages, the part of a prompt around ``embed_text``), as
  canonical JSON.  It goes into the scope, so a semantic match never crosses
  requests with different context, and scope plus text cover the whole request:
  the exact key is the whole canonical request.

See docs/semantics.md, "Chat messages", for the canonical form.

Then a :class:`ScopedRequest` adds the model, namespace and parameters (the
scope and the entry key), and :func:`build_entry` the entry a write stores.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._entry import CacheEntry, encode_response
from ._enums import InvalidationStrategy
from ._errors import InvalidInputError, InvalidMessagesError, PromptTooLongError
from ._keys import canonical_param, entry_id, normalize_prompt, scope_id
from ._validate import check_label, check_tags, check_ttl

__all__ = [
    "ROLES",
    "InvalidMessagesError",
    "PromptTooLongError",
    "RequestText",
    "ScopedRequest",
    "build_entry",
    "build_request",
    "lookup_version",
    "make_cache_key",
    "request_of",
    "scoped_request",
]

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_COMPARED = "\x00compared"  # stands in the context for the text that is compared


@dataclass(frozen=True)
class RequestText:
    text: str
    context: str | None = None


def build_request(prompt: Any = None, *, messages: Any = None, embed_text: Any = None) -> RequestText:
    """Validate one request given as ``prompt``, ``messages`` or ``prompt`` plus ``embed_text``."""
    if messages is not None:
        if prompt is not None:
            raise InvalidInputError("pass either prompt or messages, not both")
        if embed_text is not None:
            raise InvalidInputError("embed_text is for prompts; with messages the last user message is compared")
        return _from_messages(messages)
    if prompt is None:
        raise InvalidInputError("a prompt or messages is required")
    text = normalize_prompt(prompt)
    if embed_text is None:
        return RequestText(text)
    compared = normalize_prompt(embed_text)
    before, found, after = text.rpartition(compared)
    if not found:
        raise InvalidInputError("embed_text must be part of the prompt (after whitespace normalisation)")
    if not before and not after:
        return RequestText(text)
    return RequestText(compared, _dumps({"prompt": [before, _COMPARED, after]}))


def request_of(item: Any) -> RequestText:
    """A prompt (str), a messages list, or an already built request: as a request."""
    if isinstance(item, RequestText):
        return item
    if isinstance(item, str):
        return build_request(item)
    if isinstance(item, Sequence):
        return build_request(messages=item)
    raise InvalidInputError(f"prompt must be a str or a list of messages, not {type(item).__name__}")


def _from_messages(messages: Any) -> RequestText:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidMessagesError(f"messages must be a list of dicts, not {type(messages).__name__}")
    if not messages:
        raise InvalidMessagesError("messages must not be empty")
    canonical = [_message(m, i) for i, m in enumerate(messages)]
    users = [i for i, m in enumerate(canonical) if m["role"] == "user"]
    if not users:
        raise InvalidMessagesError("messages has no user message to compare")
    last = users[-1]
    text = canonical[last]["content"]
    if not text:
        raise InvalidMessagesError(f"messages[{last}] (the last user message) has no text")
    canonical[last] = {**canonical[last], "content": _COMPARED}
    return RequestText(text, _dumps({"messages": canonical}))


def _message(message: Any, index: int) -> dict[str, Any]:
    where = f"messages[{index}]"
    if not isinstance(message, Mapping):
        raise InvalidMessagesError(f"{where} must be a dict with 'role' and 'content', not {type(message).__name__}")
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidMessagesError(f"{where} has unknown role {role!r}; expected one of {', '.join(sorted(ROLES))}")
    out = {str(k): canonical_param(v, f"{where}.{k}") for k, v in message.items() if k != "content"}
    out["content"] = _content(message.get("content"), role, where)
    return out


def _content(content: Any, role: str, where: str) -> str | None:
    if content is None and role in ("assistant", "function"):  # a tool call carries no text
        return None
    if isinstance(content, str):
        return _normalized(content)
    if isinstance(content, Sequence) and not isinstance(content, bytes):
        texts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
            if kind != "text" or not isinstance(part.get("text"), str):
                raise InvalidMessagesError(f"{where}.content[{j}] is a {kind!r} part; only text parts are supported")
            texts.append(part["text"])
        return _normalized(" ".join(texts))
    raise InvalidMessagesError(f"{where}.content must be a str or a list of text parts, not {type(content).__name__}")


def _normalized(text: str) -> str:
    return normalize_prompt(text) if text.strip() else ""


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def make_cache_key(
    prompt: str | None = None,
    model: str = "default",
    namespace: str = "",
    *,
    messages: Any = None,
    embed_text: str | None = None,
    **kwargs: Any,
) -> str:
    """Compute the entry id that ``get_top_entries`` reports and ``invalidate(keys=...)`` takes."""
    req = build_request(prompt, messages=messages, embed_text=embed_text)
    return entry_id(scope_id(model, namespace, kwargs, req.context), req.text)


@dataclass(frozen=True)
class ScopedRequest:
    """A validated request text and everything that scopes it."""

    prompt: str
    model: str
    namespace: str
    scope: str
    key: str


def scoped_request(
    prompt: Any, model: Any, namespace: str | None, params: Mapping[str, Any], *, default_namespace: str
) -> ScopedRequest:
    """``prompt`` (a RequestText, or a bare str prompt) in its scope: model, namespace, parameters, context."""
    request = request_of(prompt)
    model = check_label(model, "model")
    ns = default_namespace if namespace is None else check_label(namespace, "namespace", allow_empty=True)
    scope = scope_id(model, ns, params, request.context)
    return ScopedRequest(request.text, model, ns, scope, entry_id(scope, request.text))


def lookup_version(version: str | None, strategy: InvalidationStrategy, cache_version: str) -> str | None:
    """The version a lookup must match: the one asked for, the cache's when versioned, else any."""
    if version is not None:
        return check_label(version, "version")
    if strategy is InvalidationStrategy.VERSIONED:
        return cache_version
    return None


def build_entry(
    req: ScopedRequest,
    response: Any,
    ttl: Any,
    tags: Any,
    version: Any,
    *,
    default_ttl: float | None,
    strategy: InvalidationStrategy,
    cache_version: str,
) -> tuple[CacheEntry, float | None]:
    """The entry to store for ``req`` and its TTL in seconds (None: no expiry)."""
    encode_response(response)  # raises SerializationError before anything is stored
    if ttl is not None:
        ttl_s: float | None = check_ttl(ttl)
    elif strategy is InvalidationStrategy.MANUAL:
        ttl_s = None
    else:
        ttl_s = default_ttl
    entry = CacheEntry(
        key=req.key,
        prompt=req.prompt,
        response=response,
        model=req.model,
        scope=req.scope,
        namespace=req.namespace,
        tags=check_tags(tags),
        version=cache_version if version is None else check_label(version, "version"),
    )
    return entry, ttl_s
