"""Loading labelled pairs: both formats, and a clear error for every bad file."""

from __future__ import annotations

import json

import pytest

from redis_semcache import InvalidInputError
from redis_semcache.eval import PairFileError, load_pairs, pairs_from_rows


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def test_csv_pairs_keep_order_labels_and_normalise_prompts(tmp_path):
    path = write(
        tmp_path,
        "pairs.csv",
        'question1,question2,is_duplicate\n"How do I  learn\tPython?",What is the best way to learn Python?,1\n'
        'Is Paris in France?,"Is Paris, Texas in France?",0\n',
    )
    pairs = load_pairs(path)
    assert len(pairs) == 2
    assert pairs.first == ("How do I learn Python?", "Is Paris in France?")  # whitespace as the cache normalises it
    assert pairs.second == ("What is the best way to learn Python?", "Is Paris, Texas in France?")
    assert pairs.duplicate.tolist() == [True, False]
    assert pairs.positives == 1
    assert pairs.source == str(path)


def test_csv_may_have_extra_columns_any_order_and_a_byte_order_mark(tmp_path):
    path = write(tmp_path, "p.csv", "\ufeffid,is_duplicate,question2,question1\n7,1,b?,a?\n8,0,d?,c?\n")
    pairs = load_pairs(path)
    assert pairs.first == ("a?", "c?")
    assert pairs.duplicate.tolist() == [True, False]


def test_json_pairs_are_all_duplicates_unless_labelled(tmp_path):
    items = [
        {"origin": "What is Git?", "similar": "Explain Git to me"},
        {"origin": "What is Redis?", "similar": "What is Memcached?", "is_duplicate": 0},
    ]
    pairs = load_pairs(write(tmp_path, "mock.json", json.dumps(items)))
    assert pairs.first == ("What is Git?", "What is Redis?")
    assert pairs.second == ("Explain Git to me", "What is Memcached?")
    assert pairs.duplicate.tolist() == [True, False]


def test_digest_changes_with_a_label_and_not_with_whitespace(tmp_path):
    a = load_pairs(write(tmp_path, "a.csv", "question1,question2,is_duplicate\nx y,z,1\n"))
    b = load_pairs(write(tmp_path, "b.csv", "question1,question2,is_duplicate\nx   y,z,1\n"))
    c = load_pairs(write(tmp_path, "c.csv", "question1,question2,is_duplicate\nx y,z,0\n"))
    assert a.digest() == b.digest() != c.digest()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("empty.csv", "", "file is empty"),
        ("cols.csv", "q1,q2,label\na,b,1\n", "missing question1, question2, is_duplicate"),
        ("label.csv", "question1,question2,is_duplicate\na,b,1\nc,d,yes\n", "row 2: is_duplicate must be 0 or 1"),
        ("blank.csv", "question1,question2,is_duplicate\na,  ,1\n", "row 1: prompt must not be empty"),
        ("short.csv", "question1,question2,is_duplicate\na,b\n", "wrong number of fields"),
        ("header.csv", "question1,question2,is_duplicate\n", "no pairs found"),
        ("bad.json", "[{'origin': 1}]", "invalid JSON"),
        ("obj.json", '{"origin": "a", "similar": "b"}', "must be a list"),
        ("field.json", '[{"origin": "a", "similar": "b"}, {"origin": "c"}]', "item 2: expected an object"),
        ("type.json", '[{"origin": "a", "similar": 5}]', "row 1: prompt must be a str"),
    ],
)
def test_bad_files_raise_a_clear_error(tmp_path, name, text, message):
    with pytest.raises(PairFileError, match=message) as info:
        load_pairs(write(tmp_path, name, text))
    assert name in str(info.value)  # every message names the file
    assert isinstance(info.value, InvalidInputError)


def test_missing_and_undecodable_files(tmp_path):
    with pytest.raises(PairFileError, match="not found"):
        load_pairs(tmp_path / "nope.csv")
    path = tmp_path / "latin1.csv"
    path.write_bytes("question1,question2,is_duplicate\ncaf\xe9,cafe,1\n".encode("latin-1"))
    with pytest.raises(PairFileError, match="cannot read"):
        load_pairs(path)


def test_pairs_from_rows_accepts_bools_ints_and_strings():
    pairs = pairs_from_rows([("a", "b", True), ("c", "d", 0), ("e", "f", "TRUE"), ("g", "h", " 0 ")])
    assert pairs.duplicate.tolist() == [True, False, True, False]
    with pytest.raises(PairFileError, match="row 1"):
        pairs_from_rows([("a", "b", 2)])
