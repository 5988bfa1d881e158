"""Rule-based metrics that compare one model answer with its reference.

Pure Python with no dependencies, so the evaluation Lambda ships no packages and every
number in a report can be recomputed by hand. The text metrics follow conventions readers
already know: exact match and token F1 as in the SQuAD evaluation script, ROUGE-L as the
F-measure of the longest common subsequence of tokens (Lin, 2004) with beta = 1.

``score_record`` gives one answer's scores, holding only the metrics that apply to it;
``aggregate`` averages each metric over the records that have it, so a dataset where only
some records define a tool schema reports tool-call validity over those records alone.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_WORDS = re.compile(r"[^\W_]+")


def normalize_answer(text: str) -> str:
    """Lowercase, drop punctuation, drop the articles a/an/the and collapse whitespace (SQuAD)."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION))
    return " ".join(text.split())


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the normalized answers are identical, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall on normalized tokens (SQuAD).

    Tokens are counted with multiplicity. Two empty answers agree (1.0); one empty answer
    agrees with nothing (0.0).
    """
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(reference).split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision = common / len(predicted)
    recall = common / len(expected)
    return 2 * precision * recall / (precision + recall)


def rouge_tokens(text: str) -> list[str]:
    """Lowercased runs of letters and digits; unlike SQuAD, articles count as words in ROUGE."""
    return _WORDS.findall(text.lower())


def _lcs_length(first: Sequence[str], second: Sequence[str]) -> int:
    if len(first) < len(second):
        first, second = second, first
    previous = [0] * (len(second) + 1)
    for token in first:
        current = [0]
        for j, other in enumerate(second, start=1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (beta = 1): LCS length over prediction length (P) and reference length (R).

    Empty answers follow ``token_f1``: both empty 1.0, one empty 0.0.
    """
    predicted = rouge_tokens(prediction)
    expected = rouge_tokens(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    lcs = _lcs_length(predicted, expected)
    if lcs == 0:
        return 0.0
    precision = lcs / len(predicted)
    recall = lcs / len(expected)
    return 2 * precision * recall / (precision + recall)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPE_CHECKS = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    "integer": lambda v: _is_number(v) and float(v).is_integer(),
}


def _same_json_value(value: Any, option: Any) -> bool:
    """Equality as JSON sees it: ``true`` is not ``1`` (Python says it is)."""
    if isinstance(value, bool) or isinstance(option, bool):
        return isinstance(value, bool) and isinstance(option, bool) and value == option
    return bool(value == option)


def matches_schema(value: Any, schema: Any) -> bool:
    """Whether ``value`` satisfies the JSON-schema subset Bedrock tool input schemas use.

    Keywords checked: type (a name or a list of names), properties, required, enum, items,
    additionalProperties (false or a schema), minimum, maximum. Other keywords (description,
    format, ...) are ignored. A malformed schema validates nothing: the answer is False.
    """
    if not isinstance(schema, Mapping):
        return False
    expected_type = schema.get("type")
    if expected_type is not None:
        names = [expected_type] if isinstance(expected_type, str) else expected_type
        if not isinstance(names, list) or not any(name in _TYPE_CHECKS and _TYPE_CHECKS[name](value) for name in names):
            return False
    if "enum" in schema:
        options = schema["enum"]
        if not isinstance(options, list) or not any(_same_json_value(value, option) for option in options):
            return False
    if _is_number(value):
        for keyword, within in (("minimum", lambda v, limit: v >= limit), ("maximum", lambda v, limit: v <= limit)):
            if keyword in schema and not (_is_number(schema[keyword]) and within(value, schema[keyword])):
                return False
    if isinstance(value, dict):
        return _object_matches(value, schema)
    if isinstance(value, list) and "items" in schema:
        items = schema["items"]
        if isinstance(items, list):
            return all(matches_schema(v, s) for v, s in zip(value, items, strict=False))  # tuple form
        return all(matches_schema(item, items) for item in value)
    return True


def _object_matches(value: dict[str, Any], schema: Mapping[str, Any]) -> bool:
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    additional = schema.get("additionalProperties", True)
    if not isinstance(properties, Mapping) or not isinstance(required, list):
        return False
    if any(name not in value for name in required):
        return False
    for name, item in value.items():
        if name in properties:
            if not matches_schema(item, properties[name]):
                return False
        elif additional is False or (isinstance(additional, Mapping) and not matches_schema(item, additional)):
            return False
    return True


def _input_schema(schema: Any) -> tuple[str | None, Any]:
    """The tool name to expect (if the schema names one) and the JSON schema of its input.

    Accepts a plain JSON schema for the input, or a Bedrock tool specification
    (``{"toolSpec": {"name", "inputSchema": {"json": ...}}}`` or the inner ``toolSpec``), in
    which case the call must also name that tool.
    """
    spec = schema.get("toolSpec", schema) if isinstance(schema, Mapping) else schema
    if isinstance(spec, Mapping) and isinstance(spec.get("inputSchema"), Mapping) and "json" in spec["inputSchema"]:
        name = spec.get("name")
        return (name if isinstance(name, str) else None), spec["inputSchema"]["json"]
    return None, schema


def tool_call_valid(call_json: str, schema: Mapping[str, Any]) -> bool:
    """Whether the output is a JSON tool call ``{"name": ..., "input": {...}}`` whose input fits the schema.

    Never raises: text that is not JSON (including JSON wrapped in prose or code fences, which
    a tool-calling client could not parse either) is simply not a valid call.
    """
    try:
        call = json.loads(call_json)
    except (TypeError, ValueError, RecursionError):
        return False
    if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not call["name"] or "input" not in call:
        return False
    expected_name, input_schema = _input_schema(schema)
    if expected_name is not None and call["name"] != expected_name:
        return False
    try:
        return matches_schema(call["input"], input_schema)
    except RecursionError:
        return False


def score_record(
    output: str,
    reference: str,
    tool_schema: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """The metrics that apply to one answer: text metrics always, tool-call validity with a schema."""
    scores = {
        "exact_match": exact_match(output, reference),
        "token_f1": token_f1(output, reference),
        "rouge_l": rouge_l(output, reference),
    }
    if tool_schema is not None:
        scores["tool_call_valid"] = float(tool_call_valid(output, tool_schema))
    return scores


def aggregate(records: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Mean of each metric over the records that have it, keys sorted.

    A metric absent from a record does not apply to it (no tool schema) and
    does not count towards that metric's mean; a metric no record has is left out.
    """
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    for record in records:
        for name, value in record.items():
            totals[name] = totals.get(name, 0.0) + float(value)
            counts[name] = counts.get(name, 0) + 1
    return {name: totals[name] / counts[name] for name in sorted(totals)}
