"""Guards: concrete prompt pairs, composition, and wiring through the manager."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from redis_semcache import InMemoryCacheBackend, InvalidInputError, LLMCachingManager
from redis_semcache.guards import (
    BUILTIN_GUARDS,
    DEFAULT_GUARDS,
    RECOMMENDED_GUARDS,
    antonyms_agree,
    combine,
    entities_agree,
    guard_names,
    is_negated,
    names_in,
    negation_agrees,
    numbers_agree,
    numbers_in,
    resolve_guards,
)

from ..fakes import near, unit

# -- numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("What is the best laptop under $1,000?", {"1000"}),
        ("How do I jailbreak iOS 9.2.1?", {"9.2", "1"}),
        ("Which is better, iPhone 7 or Galaxy S7?", {"7"}),
        ("Can I lose two kilos in 2 weeks?", {"2"}),
        ("What is the 2nd law of thermodynamics?", {"2"}),
        ("Top ten places in Kerala", {"10"}),
        ("How does one learn to cook?", set()),  # "one" is not a count here
        ("Is a GPA of 2.30 enough?", {"2.3"}),
        ("It works in two steps: 1) download 2) prepare", {"2"}),  # list markers are not quantities
        ("Released in (2016)", {"2016"}),
        ("Several thousand audio files", {"1000"}),
        ("Thousands of audio files", {"1000"}),
    ],
)
def test_numbers_in(text, numbers):
    assert numbers_in(text) == frozenset(numbers)


@pytest.mark.parametrize(
    ("query", "candidate", "keep"),
    [
        ("What is the best phone under $500?", "What is the best phone under $1000?", False),
        ("How do I jailbreak iOS 9.1?", "How do I jailbreak iOS 9.2.1?", False),
        ("Best programming internships of 2016?", "Best programming internships of 2017?", False),
        ("What was the population of Austin in 2011?", "What is the population of Austin?", False),
        ("How do I lose 5 kg in two weeks?", "How can I lose five kg in 2 weeks?", True),
        ("Why did India ban 500 and 1000 rupee notes?", "Why were the 1,000 and 500 rupee notes banned?", True),
        ("How do I learn Python?", "What is the best way to learn Python?", True),
    ],
)
def test_numbers_agree(query, candidate, keep):
    assert numbers_agree(query, candidate, 0.95) is keep
    assert numbers_agree(candidate, query, 0.95) is keep  # symmetric


# -- negation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        ("Why can't I delete my messages on Snapchat?", True),
        ("Why can\u2019t I delete my messages on Snapchat?", True),
        ("Why dont Indian Muslims join the army?", True),
        ("Is it true that India has never invaded any country?", True),
        ("How do I buy a gun without a license?", True),
        ("Should cow slaughter be banned or not?", False),  # an alternative, not a negation
        ("Are business cards effective, why or why not?", False),
        ("Does schizophrenia have a cure? If not, why?", False),
        ("Why should/shouldn't Puerto Rico become a state?", False),
        ("Would you call yourself lucky? (Yes/No)", False),
        ("What is the capital of Norway?", False),  # "no" inside a word does not count
        ("Extract TAR archives in non-streaming mode", True),
    ],
)
def test_is_negated(text, negated):
    assert is_negated(text) is negated


def test_negation_agrees_only_when_both_or_neither_are_negated():
    assert not negation_agrees("How do I buy a gun without a license?", "How do I buy a gun with a license?")
    assert not negation_agrees("Why wasn't South Vietnam powerful?", "Why was South Vietnam powerful?")
    assert negation_agrees("Why don't all months have 30 days?", "Why do months not all have 30 days?")
    assert negation_agrees("Should cow slaughter be banned in India or not?", "Should cow slaughter be banned?")


# -- entities ------------------------------------------------------------------


def test_names_in_skips_sentence_starts_question_words_and_possessives():
    assert names_in("Which is better, Java or Python?") == {"java", "python"}
    assert names_in("What are Google's biggest challenges? How does IBM compare?") == {"google", "ibm"}
    assert names_in("how do i learn java") == frozenset()  # lower-case names are not seen


@pytest.mark.parametrize(
    ("query", "candidate", "keep"),
    [
        ("Solar installers near Sunland, California?", "Solar installers near Mendocino, California?", False),
        ("Where is the Maruti Suzuki showroom in Shimla?", "Where is the Maruti Suzuki showroom in Bhopal?", False),
        ("How can I unfollow everyone on Twitter?", "How can I unfollow everyone on Instagram?", False),
        ("Why vote for Trump?", "Why vote for Donald Trump?", True),  # one-sided addition
        ("What is the best phone?", "What is the best phone in India?", True),
        ("Who is the best hacker in India?", "Who are the best Indian hackers?", True),  # same stem
        ("What are Google's biggest challenges?", "What challenges does google face?", True),
        ("Is Satan real?", "Is the Devil real?", False),  # a synonym the guard cannot know: a known loss
        ("Who will win the US election?", "Who will win the United States election?", True),  # initials
        ("Is NLP part of AI?", "Is natural language processing a part of ML?", False),  # AI vs ML
    ],
)
def test_entities_agree(query, candidate, keep):
    assert entities_agree(query, candidate, 0.93) is keep


# -- antonyms ------------------------------------------------------------------


def test_antonyms_reject_swaps_only():
    assert not antonyms_agree("What are the benefits of NSE listing?", "What are the disadvantages of NSE listing?")
    assert not antonyms_agree("Who is the worst teacher you've had?", "Who is the best teacher you've had?")
    assert antonyms_agree("What are the best and worst jobs?", "What are the best jobs?")  # not a swap
    assert antonyms_agree("How do I lose weight?", "How can I lose weight fast?")


# -- properties ----------------------------------------------------------------

_texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=80)


@given(_texts, st.floats(0, 1))
def test_every_guard_keeps_a_prompt_matched_with_itself(text, similarity):
    for guard in BUILTIN_GUARDS.values():
        assert guard(text, text, similarity) is True


@given(_texts, _texts)
def test_every_guard_is_symmetric(a, b):
    for guard in BUILTIN_GUARDS.values():
        assert guard(a, b, 0.9) == guard(b, a, 0.9)


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=3), st.integers(0, 10**6))
def test_numbers_agree_exactly_when_the_sets_of_numbers_are_equal(numbers, other):
    text = "What can I buy for " + " and ".join(f"${n}" for n in numbers) + "?"
    changed = text.replace(f"${numbers[0]}", f"${other}", 1)  # the first number, now `other`
    assert numbers_agree(text, changed) is ({other, *numbers[1:]} == set(numbers))


# -- configuration -------------------------------------------------------------


def test_resolve_guards_accepts_names_lists_callables_and_sentinels():
    def mine(q: str, c: str, s: float) -> bool:
        return True

    assert resolve_guards(None) == ()
    assert resolve_guards("none") == ()
    assert resolve_guards("numbers, negation") == (numbers_agree, negation_agrees)
    assert resolve_guards(["entities", mine, "entities"]) == (entities_agree, mine)
    assert resolve_guards(mine) == (mine,)
    assert resolve_guards("all") == tuple(BUILTIN_GUARDS.values())
    assert resolve_guards("default") == resolve_guards(list(DEFAULT_GUARDS))
    assert resolve_guards("recommended") == resolve_guards(list(RECOMMENDED_GUARDS))
    assert guard_names(resolve_guards(["numbers", mine])) == ["numbers", "mine"]


@pytest.mark.parametrize("bad", ["numbrs", ["numbers", 3], 42])
def test_resolve_guards_rejects_unknown_names_and_types(bad):
    with pytest.raises(InvalidInputError):
        resolve_guards(bad)


def test_combine_runs_guards_before_the_verifier_and_stops_at_the_first_veto():
    calls: list[str] = []

    def guard(q: str, c: str, s: float) -> bool:
        calls.append("guard")
        return c != "vetoed"

    def verifier(q: str, c: str, s: float) -> bool:
        calls.append("verifier")
        return s >= 0.95

    accept = combine((guard,), verifier)
    assert accept is not None
    assert accept("q", "vetoed", 0.99) is False
    assert calls == ["guard"]  # the verifier never saw a candidate a guard rejected
    assert accept("q", "fine", 0.99) is True
    assert accept("q", "fine", 0.90) is False
    assert combine(()) is None
    assert combine((), verifier) is verifier


# -- through the manager -------------------------------------------------------


def _cache(**kwargs):
    return LLMCachingManager(
        InMemoryCacheBackend(max_size=None), enable_semantic=True, semantic_threshold=0.8, embedder=None, **kwargs
    )


def test_manager_guards_skip_a_vetoed_candidate_and_serve_the_next_one():
    rng = np.random.default_rng(7)
    query = unit(rng, 32)
    cache = _cache(guards=["numbers"])
    cache.set("best phone under $500", "phones for 500", embedding=near(query, 0.97, rng))
    cache.set("good phone below $1000", "phones for 1000", embedding=near(query, 0.90, rng))
    assert cache.get("best phone under $1000", embedding=query) == "phones for 1000"
    assert cache.get("best phone under $200", embedding=query) is None
    unguarded = _cache(guards=None)
    unguarded.set("best phone under $500", "phones for 500", embedding=near(query, 0.97, rng))
    assert unguarded.get("best phone under $1000", embedding=query) == "phones for 500"


def test_manager_verifier_sees_query_candidate_and_similarity_after_the_guards():
    rng = np.random.default_rng(8)
    query = unit(rng, 32)
    seen: list[tuple[str, str, float]] = []

    def verifier(q: str, c: str, s: float) -> bool:
        seen.append((q, c, s))
        return True

    cache = _cache(guards="negation", verifier=verifier)
    cache.set("why is the sky not blue", "negated", embedding=near(query, 0.99, rng))
    cache.set("why the sky looks blue", "plain", embedding=near(query, 0.85, rng))
    assert cache.get("why is the sky blue", embedding=query) == "plain"
    assert [c for _, c, _ in seen] == ["why the sky looks blue"]  # the negated one never reached it
    assert seen[0][0] == "why is the sky blue"
    assert seen[0][2] == pytest.approx(0.85, abs=1e-5)


def test_manager_default_guards_are_the_documented_default():
    assert _cache().engine.guards == resolve_guards(list(DEFAULT_GUARDS))
