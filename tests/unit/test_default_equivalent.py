"""default_equivalent with the real all-MiniLM-L6-v2 model, and get_or_compute labelling with it."""

from __future__ import annotations

import random

import pytest

from redis_semcache import LLMCachingManager
from redis_semcache.quality import default_equivalent
from redis_semcache.quality.equivalent import ANSWER_THRESHOLD, answer_similarity, numbers_contradict

# Not in bench/data/answer_pairs.json (the threshold was chosen on that set).
PARAPHRASED = [
    ("Click 'Forgot password' on the sign-in page and follow the link in the email we send you.",
     "On the sign-in page, choose 'Forgot password', then open the link we email you."),
    ("The Eiffel Tower is in Paris, France.", "Paris, France is where the Eiffel Tower stands."),
    ("Yes, dogs can eat cooked carrots; they are a healthy snack.",
     "Cooked carrots are safe for dogs and make a healthy treat."),
    ("To undo the last commit but keep the changes, run git reset --soft HEAD~1.",
     "Run `git reset --soft HEAD~1` to undo your last commit while keeping its changes."),
]  # fmt: skip
DIFFERENT = [
    ("The Eiffel Tower is in Paris, France.", "The Colosseum is in Rome, Italy."),
    ("Yes, dogs can eat cooked carrots.", "No, dogs must never eat grapes or raisins."),
    ("Click 'Forgot password' on the sign-in page.", "Go to Settings and choose 'Close account'."),
    ("Delivery takes 2 days.", "Delivery takes 10 days."),
]


def test_equal_values_are_equivalent_without_the_model():
    assert default_equivalent({"a": 1}, {"a": 1})
    assert not default_equivalent({"a": 1}, {"a": 2})  # not text: compared with ==
    assert default_equivalent("Paris is the capital.", "  paris IS the   capital. ")
    assert not default_equivalent("", "Paris")


def test_answers_whose_numbers_differ_are_different():
    assert not default_equivalent("The answer is 42.", "The answer is 24.")
    assert numbers_contradict("Delivery takes 2 days.", "Delivery takes 10 days.")
    # one answer only adds a number: no contradiction (the embedding decides)
    assert not numbers_contradict("Leap years have 366 days.", "366 days: February has a 29th day.")
    assert not numbers_contradict("It has 3 wheels.", "It is a tricycle.")


@pytest.mark.model
@pytest.mark.parametrize(("a", "b"), PARAPHRASED)
def test_paraphrased_answers_are_equivalent(builtin_embedder, a, b):
    assert default_equivalent(a, b), answer_similarity(a, b)


@pytest.mark.model
@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_answers_are_not(builtin_embedder, a, b):
    assert not default_equivalent(a, b), answer_similarity(a, b)


@pytest.mark.model
def test_the_threshold_separates_the_two_sets(builtin_embedder):
    same = [answer_similarity(a, b) for a, b in PARAPHRASED]
    different = [answer_similarity(a, b) for a, b in DIFFERENT[:3]]  # the last one differs by numbers only
    assert min(same) >= ANSWER_THRESHOLD > max(different)


@pytest.mark.model
def test_get_or_compute_labels_a_reworded_answer_right_by_default(builtin_embedder):
    cache = LLMCachingManager(enable_semantic=True, explore=1.0, explore_rng=random.Random(0), guards=None)
    asked, reworded = PARAPHRASED[0]
    cache.set("How do I reset my password?", asked)
    assert cache.get_or_compute("I forgot my password, how can I reset it?", lambda: reworded) == reworded
    labels, _ = cache.backend.label_counts(cache.lookup("How do I reset my password?").scope)
    assert (int(labels.right.sum()), int(labels.wrong.sum())) == (1, 0)
    assert cache.get_or_compute("How do I reset my password, please?", lambda: "Call us.") == "Call us."
    labels, _ = cache.backend.label_counts(cache.lookup("How do I reset my password?").scope)
    assert (int(labels.right.sum()), int(labels.wrong.sum())) == (1, 1)
