"""The grey-zone judge: off the request path, bounded, and its verdicts become labels and exact hits."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from redis_semcache import InvalidInputError, LLMCachingManager
from redis_semcache.quality.judge import GreyZoneJudge

from ..fakes import near, unit

DIM = 16


def _cache(judge, **kwargs):
    cache = LLMCachingManager(enable_semantic=True, embedder=None, guards=None, semantic_threshold=0.9,
                              judge=judge, **kwargs)  # fmt: skip
    rng = np.random.default_rng(0)
    vector = unit(rng, DIM)
    cache.set("what is redis", "a store", embedding=vector)
    return cache, vector, rng


def _labels(cache):
    every, _ = cache.backend.label_counts("")
    return int(every.right.sum()), int(every.wrong.sum())


def test_an_approved_near_miss_is_labelled_right_and_becomes_an_exact_hit():
    asked = []

    def judge(query, prompt, response):
        asked.append((query, prompt, response))
        return True

    cache, vector, rng = _cache(judge)
    found = cache.lookup("tell me about redis", embedding=near(vector, 0.87, rng))
    assert found.hit is False  # the caller gets its miss at once
    cache.quality.judge.wait()
    assert asked == [("tell me about redis", "what is redis", "a store")]
    assert _labels(cache) == (1, 0)
    again = cache.lookup("tell me about redis")
    assert (again.kind, again.response) == ("exact", "a store")


def test_a_rejected_candidate_is_labelled_wrong_and_nothing_is_stored():
    cache, vector, rng = _cache(lambda *_: False)
    cache.get("what is valkey", embedding=near(vector, 0.88, rng))  # get offers too
    cache.quality.judge.wait()
    assert _labels(cache) == (0, 1)
    assert cache.lookup("what is valkey").hit is False


def test_candidates_outside_the_band_are_not_judged():
    asked = []
    cache, vector, rng = _cache(lambda *args: asked.append(args) or True)
    cache.lookup("far", embedding=near(vector, 0.8, rng))  # below 0.9 - 0.05
    cache.lookup("close", embedding=near(vector, 0.95, rng))  # served: nothing to judge
    cache.quality.judge.wait()
    assert asked == []


def test_the_queue_is_bounded_and_the_caller_never_waits():
    entered, release = threading.Event(), threading.Event()

    def slow(query, prompt, response):
        entered.set()
        assert release.wait(30)
        return True

    cache, vector, rng = _cache(GreyZoneJudge(slow, max_queue=1))
    cache.lookup("one", embedding=near(vector, 0.88, rng))
    assert entered.wait(30)  # the worker holds "one"; the queue is empty again
    cache.lookup("two", embedding=near(vector, 0.88, rng))  # queued
    third = cache.lookup("three", embedding=near(vector, 0.88, rng))  # queue full: dropped, not waited for
    assert third.hit is False and cache.quality.judge.dropped == 1
    release.set()
    cache.quality.judge.wait()
    assert cache.quality.judge.judged == 2
    assert cache.lookup("two").kind == "exact" and cache.lookup("three").hit is False


def test_an_async_judge_and_a_failing_judge():
    calls = []

    async def judge(query, prompt, response):
        calls.append(query)
        if query == "boom":
            raise RuntimeError("the LLM judge timed out")
        return True

    cache, vector, rng = _cache(judge)
    cache.lookup("boom", embedding=near(vector, 0.88, rng))
    cache.lookup("fine", embedding=near(vector, 0.88, rng))
    cache.quality.judge.wait()
    assert calls == ["boom", "fine"]  # the worker survived the failure
    assert _labels(cache) == (1, 0)


@pytest.mark.parametrize("bad", [{"band": 0}, {"band": 1.5}, {"max_queue": 0}])
def test_judge_settings_are_checked(bad):
    with pytest.raises(InvalidInputError):
        GreyZoneJudge(lambda *_: True, **bad)
    with pytest.raises(InvalidInputError):
        GreyZoneJudge("not callable")


def test_the_band_is_below_the_threshold_edge_included_and_below_one_when_exact_only():
    from redis_semcache.quality import LookupResult

    judge = GreyZoneJudge(lambda *_: True)
    assert (judge.band, judge._queue.maxsize) == (0.05, 100)  # the documented defaults

    def near_miss(similarity, threshold, **changed):
        fields = {"hit": False, "kind": None, "response": None, "similarity": similarity,
                  "candidate_prompt": "p", "candidate_key": "k", "threshold": threshold, **changed}  # fmt: skip
        return LookupResult(**fields)

    assert judge.in_band(near_miss(0.9 - 0.05, 0.9))  # the band's lower edge is in it
    assert not judge.in_band(near_miss(0.8499, 0.9))
    assert judge.in_band(near_miss(0.95, None)) and not judge.in_band(near_miss(0.94, None))  # exact only: below 1.0
    assert not judge.in_band(near_miss(0.88, 0.9, hit=True, kind="semantic"))  # served: nothing to judge
    assert not judge.in_band(near_miss(0.88, 0.9, candidate_key=None))
    assert not judge.in_band(near_miss(None, 0.9))


def test_an_approved_answer_is_stored_in_the_askers_scope_parameters_included():
    cache, vector, rng = _cache(lambda *_: True)
    cache.set("what is redis", "a warm store", embedding=vector, temperature=0.7)
    cache.lookup("tell me about redis", embedding=near(vector, 0.87, rng), temperature=0.7)
    cache.quality.judge.wait()
    assert cache.lookup("tell me about redis", temperature=0.7).response == "a warm store"  # its own scope
    assert cache.lookup("tell me about redis").hit is False  # not the scope without the parameter
