"""Entry identity: prompt normalisation, scopes and entry ids.

An entry is identified by its *scope* (model, namespace and every extra request
parameter) and its *normalised prompt*.  The same prompt asked of another model,
or with another temperature, is another entry.

Entry ids look like ``<scope_id>-<prompt_digest>``: the scope id comes first so
that a backend can route an id to the partition of its scope without a lookup.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ._errors import InvalidInputError
from ._validate import check_label, check_text

__all__ = ["canonical_param", "entry_id", "normalize_prompt", "scope_id", "split_key"]

_WHITESPACE = re.compile(r"\s+")
SCOPE_ID_LEN = 16
PROMPT_DIGEST_LEN = 24


def normalize_prompt(prompt: object) -> str:
    """Return the canonical form used for exact matching.

    Unicode NFC, then every run of whitespace becomes one space and the ends are
    stripped.  Case is kept: "US" and "us" can deserve different answers.
    """
    if not isinstance(prompt, str):
        raise InvalidInputError(f"prompt must be a str, not {type(prompt).__name__}")
    text = _WHITESPACE.sub(" ", unicodedata.normalize("NFC", prompt)).strip()
    if not text:
        raise InvalidInputError("prompt must not be empty or only whitespace")
    return check_text(text, "prompt")


# Deeper request parameters than any API takes; also keeps a hostile one from exhausting the stack.
MAX_PARAM_DEPTH = 64


def canonical_param(value: Any, name: str) -> Any:
    """Make a request parameter JSON-canonical, rejecting what cannot be.

    An integral float becomes an int, so ``temperature=0`` and ``temperature=0.0``
    are one scope; bools stay bools (JSON ``true`` is not ``1``).  A value that
    contains itself, or is nested deeper than MAX_PARAM_DEPTH, is an InvalidInputError.
    """
    return _canonical(value, name, ())


def _canonical(value: Any, name: str, path: tuple[int, ...]) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"parameter {name!r} must be finite, got {value!r}")
        return int(value) if value.is_integer() else value
    if not isinstance(value, (list, tuple, Mapping)):
        raise InvalidInputError(f"parameter {name!r} has type {type(value).__name__}; use JSON-compatible values")
    if id(value) in path:
        raise InvalidInputError(f"parameter {name!r} contains itself")
    if len(path) >= MAX_PARAM_DEPTH:
        raise InvalidInputError(f"parameter {name!r} is nested more than {MAX_PARAM_DEPTH} levels deep")
    inner = (*path, id(value))
    if isinstance(value, Mapping):
        return {str(k): _canonical(v, name, inner) for k, v in value.items()}
    return [_canonical(v, name, inner) for v in value]


def scope_id(
    model: str = "default", namespace: str = "", params: Mapping[str, Any] | None = None, context: str | None = None
) -> str:
    """Hash (model, namespace, request parameters, request context) into a short hex scope id.

    ``context`` is the canonical rest of a chat request or of a prompt around
    its ``embed_text`` (see :mod:`redis_semcache.request`).
    """
    if not params and context is None and type(model) is str and type(namespace) is str:
        return _plain_scope_id(model, namespace)  # the common case, on every lookup: hashed once
    return _scope_id(model, namespace, params, context)


@lru_cache(maxsize=1024)
def _plain_scope_id(model: str, namespace: str) -> str:
    return _scope_id(model, namespace, None, None)


def _scope_id(model: str, namespace: str, params: Mapping[str, Any] | None, context: str | None) -> str:
    check_label(model, "model", allow_empty=True)  # the manager rejects an empty model
    check_label(namespace, "namespace", allow_empty=True)
    canonical = {k: canonical_param(v, k) for k, v in sorted((params or {}).items())}
    parts: list[Any] = [model, namespace, canonical] if context is None else [model, namespace, canonical, context]
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    check_text(blob, "model, namespace or a parameter")
    return hashlib.sha256(blob.encode()).hexdigest()[:SCOPE_ID_LEN]


def entry_id(scope: str, normalized_prompt: str) -> str:
    """The id of the entry for an already normalised prompt in a scope."""
    digest = hashlib.sha256(f"{scope}\x00{normalized_prompt}".encode()).hexdigest()
    return f"{scope}-{digest[:PROMPT_DIGEST_LEN]}"


_KEY_SHAPE = re.compile(rf"[0-9a-f]{{{SCOPE_ID_LEN}}}-[0-9a-f]{{{PROMPT_DIGEST_LEN}}}")


def split_key(key: object) -> tuple[str, str] | None:
    """Split an entry id into (scope id, prompt digest), or None if it is not one.

    Strings that are not entry ids can name no entry, so callers treat them as
    "nothing to delete" rather than as an error.
    """
    if not isinstance(key, str) or not _KEY_SHAPE.fullmatch(key):
        return None
    scope, _, digest = key.partition("-")
    return scope, digest
