"""Guards: cheap checks that veto a semantic hit when the two prompts disagree.

Sentence embeddings blur small words that change the answer: "best laptop
under $500" and "best laptop under $1000", "Why is X" and "Why isn't X",
"solar installers near Sunland, California" and "... near Mendocino,
California" all score above 0.9.  A guard looks at the two prompt texts and
says whether a candidate may be served.

A guard is any callable ``(query prompt, candidate prompt, similarity) -> bool``
(True keeps the candidate), the same shape as the manager's ``verifier``.
The built-in ones are pure, need no model, and take microseconds:

==============  ================================================================
``numbers``     the numbers differ (digits, number words, "2nd"; "1,000" = 1000)
``negation``    one prompt is negated and the other is not
``entities``    each prompt names something (a capitalised word) the other lacks
``antonyms``    one says "best", "pros", "buy", "before"... where the other
                says "worst", "cons", "sell", "after"...
==============  ================================================================

``resolve_guards`` turns a user's ``guards=`` argument into a tuple of guards,
and ``combine`` folds guards and a verifier into the single ``accept``
callback a :class:`~redis_semcache.backends.base.SemanticQuery` carries.
Guards run first (cheapest first) and the verifier only for candidates every
guard kept, so an expensive verifier (an LLM judge, a cross-encoder) runs as
rarely as possible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from ._errors import InvalidInputError
from .backends.base import Acceptor

__all__ = [
    "BUILTIN_GUARDS",
    "DEFAULT_GUARDS",
    "RECOMMENDED_GUARDS",
    "Guard",
    "antonyms_agree",
    "combine",
    "entities_agree",
    "guard_names",
    "negation_agrees",
    "numbers_agree",
    "resolve_guards",
]

# (query prompt, candidate prompt, cosine similarity) -> keep the candidate?
Guard = Acceptor

_APOSTROPHES = "'\u2019"  # typewriter and typographic
_WORD = re.compile(rf"[^\W_]+(?:[{_APOSTROPHES}][^\W_]+)*")
_TOKEN_CACHE = 1 << 16

# -- numbers -----------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?|\d+(?:\.\d+)?")
_NUMBER_WORDS = {
    # "one" is left out: "how does one ..." and "one of the best" are not counts.
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12,
    "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "twice": 2, "thrice": 3, "half": 0.5, "quarter": 0.25, "dozen": 12,
    # "several thousand" and "thousands" are the same vague amount
    "dozens": 12, "hundreds": 100, "thousands": 1000, "millions": 10**6, "billions": 10**9,
}  # fmt: skip
# "1) download 2) prepare": list markers, not quantities
_ENUMERATOR = re.compile(r"(?<![(\w.])\d{1,2}\)")


def _number_value(token: str) -> str:
    value = float(token.replace(",", ""))
    return str(int(value)) if value.is_integer() else repr(value)


@lru_cache(maxsize=_TOKEN_CACHE)
def numbers_in(text: str) -> frozenset[str]:
    """The numbers a prompt mentions, canonicalised: {"2", "1000", "0.5"}.

    Digits anywhere count ("iPhone 7", "Z5200", "2nd", "$1,000") except list
    markers ("1)"), and so do the number words in ``_NUMBER_WORDS``.
    """
    found = {_number_value(m.group()) for m in _NUMBER.finditer(_ENUMERATOR.sub(" ", text))}
    for word in _WORD.findall(text.lower()):
        value = _NUMBER_WORDS.get(word)
        if value is not None:
            found.add(_number_value(str(value)))
    return frozenset(found)


def numbers_agree(query: str, candidate: str, similarity: float = 1.0) -> bool:
    """Keep the candidate only when both prompts mention the same set of numbers."""
    return numbers_in(query) == numbers_in(candidate)


# -- negation ----------------------------------------------------------------

_NEGATIONS = frozenset(
    {
        "not", "no", "never", "none", "nothing", "nobody", "nowhere", "neither", "nor", "cannot", "without",
        "non",  # "non-streaming" is split at the hyphen
        # contractions typed without the apostrophe
        "dont", "doesnt", "didnt", "cant", "wont", "isnt", "arent", "wasnt", "werent", "shouldnt",
        "wouldnt", "couldnt", "havent", "hasnt", "hadnt", "mustnt", "aint",
    }
)  # fmt: skip


# Negative words that only offer the other alternative: "... or not?",
# "why or why not", "if not, why?", "yes/no", "should/shouldn't".
_ALTERNATIVES = re.compile(
    rf"\b(?:or|why|if|whether)\s+not\b|\byes\s*/\s*no\b|\b(\w+)\s*/\s*\1n[{_APOSTROPHES}]?t\b", re.IGNORECASE
)


@lru_cache(maxsize=_TOKEN_CACHE)
def is_negated(text: str) -> bool:
    """Whether a prompt contains a negation ("not", "never", "don't", "isnt", ...).

    "Or not", "why not", "if not" and "should/shouldn't" offer both
    alternatives rather than negate, so they do not count.
    """
    for word in _WORD.findall(_ALTERNATIVES.sub(" ", text).lower()):
        bare = word.replace("\u2019", "'")
        if bare.endswith("n't") or bare.replace("'", "") in _NEGATIONS:
            return True
    return False


def negation_agrees(query: str, candidate: str, similarity: float = 1.0) -> bool:
    """Keep the candidate unless exactly one of the two prompts is negated."""
    return is_negated(query) == is_negated(candidate)


# -- named entities ----------------------------------------------------------

# Capitalised words that are not names: question words, pronouns, and words
# people capitalise for emphasis.  Compared lower-case.
_NOT_NAMES = frozenset(
    {
        "i", "i'm", "i've", "i'd", "i'll", "a", "an", "the", "what", "which", "who", "whom", "whose", "why",
        "how", "when", "where", "is", "are", "was", "were", "do", "does", "did", "can", "could", "should",
        "would", "will", "shall", "may", "might", "must", "if", "in", "on", "at", "of", "for", "to", "and",
        "or", "but", "vs", "it", "my", "me", "you", "your", "we", "our", "they", "their", "he", "she", "his",
        "her", "this", "that", "these", "those", "there", "here", "please", "hi", "hello", "best", "good",
        "top", "new", "old", "quora",
    }
)  # fmt: skip
_SENTENCE_START = re.compile(r"(?:^|[.?!:;\"“(\[]\s*)$")


_POSSESSIVE = re.compile(rf"[{_APOSTROPHES}]s$")
_STEM = 5  # "India" ~ "Indian", "America" ~ "Americans"; "Hillary" !~ "Hilary"


def _stem(word: str) -> str:
    return _POSSESSIVE.sub("", word.lower())[:_STEM]


@lru_cache(maxsize=_TOKEN_CACHE)
def names_in(text: str) -> frozenset[str]:
    """Capitalised words that are not sentence-initial, lower-cased: the cheap proper nouns.

    "Which is better, Java or Python?" -> {"java", "python"}.  All-caps
    acronyms count ("NSE", "IIT"), possessives are dropped ("Google's" ->
    "google").  No model, so lower-case names are missed.
    """
    names = set()
    for m in _WORD.finditer(text):
        word = m.group()
        if not word[0].isupper() or _SENTENCE_START.search(text[: m.start()]):
            continue
        lower = _POSSESSIVE.sub("", word.lower())
        if lower not in _NOT_NAMES:
            names.add(lower)
    return frozenset(names)


@lru_cache(maxsize=_TOKEN_CACHE)
def _words(text: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _WORD.findall(text))


@lru_cache(maxsize=_TOKEN_CACHE)
def _stems(text: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in _WORD.findall(text))


def entities_agree(query: str, candidate: str, similarity: float = 1.0) -> bool:
    """Reject a substitution: each prompt names something absent from the other.

    One-sided additions are kept ("Trump" vs "Donald Trump", "the best phone"
    vs "the best phone in India").  A name is present in the other prompt when
    any of its words starts with the same five letters, case-insensitively
    (people type "india" as often as "India", and "Indian" is about India), or
    when it is short and the initials of consecutive words spell it ("US" and
    "United States", "ML" and "machine learning").
    """
    q_names = names_in(query)
    c_names = names_in(candidate)
    if not q_names and not c_names:
        return True
    q_only = any(not _mentions(candidate, n) for n in q_names)
    return not (q_only and any(not _mentions(query, n) for n in c_names))


@lru_cache(maxsize=_TOKEN_CACHE)
def _initials(text: str) -> str:
    return "".join(w[0] for w in _WORD.findall(text.lower()))


def _mentions(text: str, name: str) -> bool:
    """Whether ``text`` mentions ``name``: a word with the same stem, or, for a
    short name, words whose initials spell it ("ML" in "machine learning")."""
    if _stem(name) in _stems(text):
        return True
    return 2 <= len(name) <= 5 and name.isalpha() and name in _initials(text)


# -- antonyms ----------------------------------------------------------------

_OPPOSITES = (
    ("best", "worst"),
    ("pros", "cons"),
    ("advantages", "disadvantages"),
    ("advantage", "disadvantage"),
    ("benefits", "disadvantages"),
    ("benefits", "drawbacks"),
    ("buy", "sell"),
    ("buying", "selling"),
    ("before", "after"),
    ("increase", "decrease"),
    ("gain", "lose"),
    ("most", "least"),
    ("positive", "negative"),
    ("male", "female"),
    ("men", "women"),
    ("boy", "girl"),
    ("boys", "girls"),
    ("husband", "wife"),
    ("start", "stop"),
    ("love", "hate"),
    ("like", "dislike"),
    ("easy", "hard"),
    ("cheap", "expensive"),
    ("rich", "poor"),
    ("win", "lose"),
    ("legal", "illegal"),
    ("possible", "impossible"),
    ("true", "false"),
    ("import", "export"),
    ("input", "output"),
    ("minimum", "maximum"),
    ("upload", "download"),
    ("first", "last"),
)
_OPPOSITE_OF: dict[str, frozenset[str]] = {}
for _a, _b in _OPPOSITES:
    _OPPOSITE_OF[_a] = _OPPOSITE_OF.get(_a, frozenset()) | {_b}
    _OPPOSITE_OF[_b] = _OPPOSITE_OF.get(_b, frozenset()) | {_a}


def antonyms_agree(query: str, candidate: str, similarity: float = 1.0) -> bool:
    """Reject when a word in one prompt is swapped for its opposite in the other.

    Only swaps count: "best" in one prompt and "worst" in the other, with the
    "worst" prompt not also saying "best" (so "best and worst" vs "best" passes).
    """
    q = _words(query)
    c = _words(candidate)
    for word in q - c:
        opposites = _OPPOSITE_OF.get(word)
        if opposites and not opposites.isdisjoint(c - q):
            return False
    return True


# -- configuration -----------------------------------------------------------

BUILTIN_GUARDS: dict[str, Guard] = {
    "numbers": numbers_agree,
    "negation": negation_agrees,
    "entities": entities_agree,
    "antonyms": antonyms_agree,
}

# What ``guards="default"`` (the manager's default) means.  Empty: on the
# Quora replay the guards cut wrong hits by far less than the 30% (at equal
# right hits) required to turn them on for everyone; see docs/quality.md.
DEFAULT_GUARDS: tuple[str, ...] = ()

# The set docs/quality.md suggests to users who opt in (guards="recommended"):
# on Quora at 0.90 "numbers" and "entities" together removed 180 wrong and 62
# right hits (of 1,483 and 1,702), and cost 10 of 730 right hits on the
# paraphrase set.  "negation" and "antonyms" removed wrong and right hits on
# Quora about as evenly as a higher threshold would, and "negation" cost 21
# right hits on the paraphrases.
RECOMMENDED_GUARDS: tuple[str, ...] = ("numbers", "entities")

GuardSpec = str | Guard | Iterable[str | Guard] | None


def resolve_guards(spec: Any) -> tuple[Guard, ...]:
    """Turn a ``guards=`` argument into a tuple of guard callables.

    Accepted: None, "none" or () for no guards; "default" for DEFAULT_GUARDS;
    "recommended" for RECOMMENDED_GUARDS;
    "all" for every built-in guard; a comma-separated string of built-in names
    ("numbers,negation"); a callable; or an iterable mixing names and callables.
    """
    if spec is None:
        return ()
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text in ("", "none", "off"):
            return ()
        if text == "default":
            return resolve_guards(DEFAULT_GUARDS)
        if text == "recommended":
            return resolve_guards(RECOMMENDED_GUARDS)
        if text == "all":
            return tuple(BUILTIN_GUARDS.values())
        return resolve_guards([part for part in (p.strip() for p in text.split(",")) if part])
    if callable(spec):
        return (spec,)
    if not isinstance(spec, Iterable):
        raise InvalidInputError(f"guards must be a name, a callable or a list of them, not {type(spec).__name__}")
    guards: list[Guard] = []
    for item in spec:
        if isinstance(item, str):
            guard = BUILTIN_GUARDS.get(item.strip().lower())
            if guard is None:
                raise InvalidInputError(f"unknown guard {item!r}; built-in guards are: {', '.join(BUILTIN_GUARDS)}")
        elif callable(item):
            guard = item
        else:
            raise InvalidInputError(f"a guard must be a name or a callable, not {type(item).__name__}")
        if guard not in guards:
            guards.append(guard)
    return tuple(guards)


def guard_names(guards: Sequence[Guard]) -> list[str]:
    """Names for reports: the built-in name, else the callable's own name."""
    by_func = {g: n for n, g in BUILTIN_GUARDS.items()}
    return [by_func.get(g) or str(getattr(g, "__name__", repr(g))) for g in guards]


def combine(guards: Sequence[Guard], verifier: Guard | None = None) -> Guard | None:
    """One accept callback: every guard, then the verifier, must keep the candidate.

    Returns None when there is nothing to check, so backends skip the call.
    """
    checks = (*guards, verifier) if verifier is not None else tuple(guards)
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]

    def accept(query: str, candidate: str, similarity: float) -> bool:
        return all(check(query, candidate, similarity) for check in checks)

    return accept
