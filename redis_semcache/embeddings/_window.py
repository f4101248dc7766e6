"""Does a text fit the model's window?  Decided without tokenising more of it than needed.

Counting every token of a 1 MB prompt took 2.3 s.  No bound on the number of
characters alone can say "too long" for a BERT WordPiece tokenizer: a word over
100 characters is one ``[UNK]`` token, so a 1 MB text without spaces is 3 tokens.
Two facts make it cheap anyway:

* **Short ASCII texts fit.**  Every ASCII character normalises to at most one
  character and every token covers at least one, so an ASCII text of n
  characters is at most n + 2 tokens ([CLS] and [SEP]): ``window - 2``
  characters always fit, without tokenising.
* **A prefix cut after a separator never has more tokens than the text.**
  BERT's pre-tokeniser splits at whitespace and punctuation and puts CJK
  ideographs apart; its normaliser (lower case, accents stripped, control
  characters dropped) works character by character.  So when the text is cut
  right after such a separator, no word straddles the cut and
  ``tokens(text) = tokens(head) + tokens(tail)``.

So the text is counted in chunks of about CHUNK characters, each ending after
a separator, until the count passes the window (too long: the rest is never
read) or the text ends (exact count).  A 1 MB English prompt costs one chunk.
A text with no separator for a long stretch is read up to its next separator.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["CHUNK", "fits_window"]

CHUNK = 2048
# Where BERT's pre-tokeniser always splits: its ASCII whitespace (other ASCII controls are dropped,
# not split at), ASCII punctuation, and the CJK ideograph blocks its normaliser spaces apart.
_SEPARATOR = re.compile(
    "[ \\t\\n\\r!-/:-@\\[-`{-~\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0002a6df\U0002a700-\U0002ceaf\U0002f800-\U0002fa1f]"
)

Count = Callable[[str], int]  # tokens in a piece of text, special tokens excluded


def fits_window(text: str, window: int, count: Count, special: int = 2, chunk: int = CHUNK) -> bool:
    """Whether ``text`` plus ``special`` tokens is at most ``window`` tokens, reading as little as needed."""
    if len(text) + special <= window and text.isascii():
        return True
    total = special
    start = 0
    while start < len(text):
        end = _cut(text, start, chunk)
        total += count(text[start:end])
        if total > window:
            return False
        start = end
    return True


def _cut(text: str, start: int, chunk: int) -> int:
    """An end after ``start``: right after the last separator in the next ``chunk`` characters, else the next one."""
    limit = start + chunk
    if limit >= len(text):
        return len(text)
    # The last separator in [start + chunk // 2, limit): searched backwards in a short window.
    window = text[start + chunk // 2 : limit]
    ends = [m.end() for m in _SEPARATOR.finditer(window)]
    if ends:
        return start + chunk // 2 + ends[-1]
    found = _SEPARATOR.search(text, limit)
    return len(text) if found is None else found.end()
