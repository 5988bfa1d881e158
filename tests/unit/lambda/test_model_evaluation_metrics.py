"""The evaluation metrics on examples whose expected values are worked out by hand in comments."""

from __future__ import annotations

import json

import pytest
from model_evaluation.metrics import (
    aggregate,
    exact_match,
    matches_schema,
    normalize_answer,
    rouge_l,
    score_record,
    token_f1,
    tool_call_valid,
)

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "ignored keyword"},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "units": {"type": "string", "enum": ["metric", "imperial"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "exact": {"type": "boolean"},
        "note": {"type": ["string", "null"]},
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
    },
    "required": ["city"],
    "additionalProperties": False,
}


def call(**tool_input) -> str:
    return json.dumps({"name": "get_weather", "input": tool_input})


# --- exact match and token F1 (SQuAD normalization) ------------------------------------------------------------


def test_normalization_drops_case_punctuation_articles_and_extra_spaces():
    assert normalize_answer("  The  Cat, sat on A mat!  ") == "cat sat on mat"
    assert normalize_answer("An apple's core") == "apples core"  # the apostrophe goes, "an" goes


def test_articles_and_punctuation_do_not_break_an_exact_match():
    # "the cat sat on the mat" -> "cat sat on mat"; "a cat sat on a mat" -> "cat sat on mat": equal
    assert exact_match("the cat sat on the mat", "a cat sat on a mat") == 1.0
    assert exact_match("Paris!", "paris") == 1.0


def test_extra_words_break_an_exact_match():
    assert exact_match("Paris, France", "Paris") == 0.0


def test_token_f1_of_a_partial_answer():
    # prediction "The cat sat" -> [cat, sat]; reference "the cat sat on the mat" -> [cat, sat, on, mat]
    # common 2: precision 2/2 = 1, recall 2/4 = 0.5, F1 = 2 * 1 * 0.5 / 1.5 = 2/3
    assert token_f1("The cat sat", "the cat sat on the mat") == pytest.approx(2 / 3)


def test_token_f1_counts_repeated_tokens_once_per_occurrence_in_both():
    # [dog, dog, dog] vs [dog, cat]: common = min(3, 1) = 1; precision 1/3, recall 1/2
    # F1 = 2 * (1/3) * (1/2) / (1/3 + 1/2) = (1/3) / (5/6) = 2/5
    assert token_f1("dog dog dog", "dog cat") == pytest.approx(0.4)


def test_token_f1_without_common_tokens_is_zero():
    assert token_f1("blue sky", "green grass") == 0.0


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("", "", 1.0),  # both empty agree
        ("the", "", 1.0),  # "the" normalizes to nothing
        ("", "cat", 0.0),
        ("cat", "", 0.0),
    ],
)
def test_token_f1_of_empty_answers(prediction, reference, expected):
    assert token_f1(prediction, reference) == expected


# --- ROUGE-L ----------------------------------------------------------------------------------------------------


def test_rouge_l_worked_example():
    # prediction [the, quick, brown, fox, jumps] (5 tokens), reference [the, fox, jumps, high] (4 tokens)
    # LCS = [the, fox, jumps] = 3; P = 3/5, R = 3/4; F = 2 * 0.6 * 0.75 / (0.6 + 0.75) = 0.9 / 1.35 = 2/3
    assert rouge_l("The quick brown fox jumps.", "the fox jumps high") == pytest.approx(2 / 3)


def test_rouge_l_counts_articles_unlike_squad():
    # [the, cat, sat, on, the, mat] vs [a, cat, sat, on, a, mat]: LCS [cat, sat, on, mat] = 4; P = R = 4/6
    assert rouge_l("the cat sat on the mat", "a cat sat on a mat") == pytest.approx(4 / 6)


def test_rouge_l_rewards_order():
    # Lin (2004): "police killed the gunman" vs "police kill the gunman": LCS [police, the, gunman] = 3 of 4
    assert rouge_l("police killed the gunman", "police kill the gunman") == pytest.approx(0.75)
    # same words, swapped halves: LCS [police, killed] = 2 of 4, F = 0.5
    assert rouge_l("the gunman police killed", "police killed the gunman") == pytest.approx(0.5)


def test_rouge_l_splits_on_anything_not_a_letter_or_digit():
    assert rouge_l("get_weather(Paris)", "get weather paris") == 1.0


@pytest.mark.parametrize(("prediction", "reference", "expected"), [("", "", 1.0), ("", "cat", 0.0), ("x", "y", 0.0)])
def test_rouge_l_edge_cases(prediction, reference, expected):
    assert rouge_l(prediction, reference) == expected


# --- tool-call validity -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output",
    [
        call(city="Paris"),
        call(city="Paris", days=7, units="metric", tags=["a"], exact=True, note=None, lat=-90),
        call(city="Paris", days=3.0),  # JSON Schema: 3.0 is an integer
        call(city="Paris", note="text"),
    ],
)
def test_tool_calls_that_fit_the_schema_are_valid(output):
    assert tool_call_valid(output, WEATHER) is True


@pytest.mark.parametrize(
    "output",
    [
        "get_weather(city='Paris')",  # not JSON
        "```json\n" + call(city="Paris") + "\n```",  # fenced: a client could not parse it either
        "",
        "null",
        json.dumps([{"name": "get_weather", "input": {"city": "Paris"}}]),  # not an object
        json.dumps({"input": {"city": "Paris"}}),  # no name
        json.dumps({"name": "", "input": {"city": "Paris"}}),  # empty name
        json.dumps({"name": "get_weather"}),  # no input
        json.dumps({"name": "get_weather", "input": "Paris"}),  # input is not an object
        call(),  # required city missing
        call(city=5),
        call(city="Paris", days=0),  # below minimum
        call(city="Paris", days=8),  # above maximum
        call(city="Paris", days=2.5),  # not an integer
        call(city="Paris", days=True),  # a boolean is not an integer in JSON
        call(city="Paris", lat=91.5),
        call(city="Paris", units="kelvin"),  # not in enum
        call(city="Paris", tags=["a", 1]),  # item type
        call(city="Paris", exact="yes"),
        call(city="Paris", country="FR"),  # additionalProperties false
        "[" * 100_000,  # deeper than the JSON parser's recursion limit
    ],
)
def test_tool_calls_that_break_the_schema_or_are_not_json_are_invalid(output):
    assert tool_call_valid(output, WEATHER) is False


def test_a_bedrock_tool_spec_also_checks_the_tool_name():
    spec = {"toolSpec": {"name": "get_weather", "inputSchema": {"json": WEATHER}}}
    assert tool_call_valid(call(city="Paris"), spec) is True
    assert tool_call_valid(call(city="Paris"), spec["toolSpec"]) is True
    assert tool_call_valid(json.dumps({"name": "get_time", "input": {"city": "Paris"}}), spec) is False


def test_additional_properties_may_be_a_schema():
    schema = {"type": "object", "additionalProperties": {"type": "integer"}}
    assert matches_schema({"a": 1, "b": 2}, schema) is True
    assert matches_schema({"a": "1"}, schema) is False


def test_enum_tells_booleans_from_numbers():
    assert matches_schema(True, {"enum": [1]}) is False
    assert matches_schema(1, {"enum": [1.0]}) is True


@pytest.mark.parametrize(
    "schema",
    [{"type": "objekt"}, {"type": "object", "required": "city"}, {"properties": {"days": {"minimum": "1"}}}, "object"],
)
def test_a_malformed_schema_validates_nothing_and_raises_nothing(schema):
    assert tool_call_valid(call(city="Paris", days=2), schema) is False


# --- per-record scores and aggregation --------------------------------------------------------------------------


def test_a_record_gets_only_the_metrics_that_apply_to_it():
    assert set(score_record("Paris", "Paris")) == {"exact_match", "token_f1", "rouge_l"}
    with_schema = score_record(call(city="Paris"), "x", tool_schema=WEATHER)
    assert set(with_schema) == {"exact_match", "token_f1", "rouge_l", "tool_call_valid"}
    assert with_schema["tool_call_valid"] == 1.0


def test_aggregate_averages_each_metric_over_the_records_that_have_it():
    records = [
        {"exact_match": 1.0, "token_f1": 0.5},
        {"exact_match": 0.0, "token_f1": 1.0, "tool_call_valid": 1.0},
        {"exact_match": 0.0, "token_f1": 0.0, "tool_call_valid": 0.0, "sql_execution_match": 1.0},
    ]
    assert aggregate(records) == {
        "exact_match": pytest.approx(1 / 3),  # (1 + 0 + 0) / 3
        "sql_execution_match": 1.0,  # one record has a database: 1 / 1
        "token_f1": 0.5,  # (0.5 + 1 + 0) / 3
        "tool_call_valid": 0.5,  # two records have a schema: (1 + 0) / 2, not / 3
    }
    assert list(aggregate(records)) == sorted(aggregate(records))


def test_aggregate_of_nothing_is_empty():
    assert aggregate([]) == {}
