"""What a run sends to SageMaker or Bedrock: a recipe with the run's overrides applied.

A run may change only a few things: its data paths, the checkpoint it starts from, the
epochs, the learning rate and the replica count. Everything else is reviewed in the
committed recipe. Overrides are checked by name and value, applied, and the result is
validated again as a whole (an override can break a cross-field rule, e.g. a learning rate
below the schedule's ``min_lr``). The output keeps the recipe's key order, so the same
recipe and overrides always render the same bytes, and :func:`recipe_hash` gives the
content hash the workflow records for lineage.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import yaml

from customization.nova import Technique
from customization.problems import Problem, RecipeError
from customization.recipe_model import Recipe, parse_recipe
from customization.typed_yaml import to_data
from customization.value_rules import S3_URI_FORM, learning_rate, positive_int, s3_uri

Path = tuple[str, ...]

_RUN: dict[str, Path] = {
    "train": ("run", "data_s3_path"),
    "output": ("run", "output_s3_path"),
    "model": ("run", "model_name_or_path"),
    "replicas": ("run", "replicas"),
}
_TUNING: dict[str, Path] = {
    **_RUN,
    "epochs": ("training_config", "trainer", "max_epochs"),
    "learning_rate": ("training_config", "model", "optim", "lr"),
}

# Override name -> the recipe key it sets, per technique.
OVERRIDE_TARGETS: dict[Technique, dict[str, Path]] = {
    "sft_lora": _TUNING,
    "sft_full": _TUNING,
    "dpo_lora": _TUNING,
    "dpo_full": _TUNING,
    "cpt": _TUNING,
    "ppo": {
        "train": _RUN["train"],
        "output": _RUN["output"],
        "model": _RUN["model"],
        "learning_rate": ("ppo_actor_train", "model", "optim", "lr"),
    },
    "distillation": {"train": _RUN["train"], "output": _RUN["output"]},
}
OVERRIDE_NAMES = tuple(dict.fromkeys(name for targets in OVERRIDE_TARGETS.values() for name in targets))
_S3_OVERRIDES = frozenset({"train", "output", "model"})


def allowed_overrides(recipe: Recipe) -> tuple[str, ...]:
    """The override names ``recipe`` accepts."""
    return tuple(OVERRIDE_TARGETS[recipe.technique])


def render(recipe: Recipe, overrides: Mapping[str, object] | None = None) -> dict[str, Any]:
    """The recipe as plain data with ``overrides`` applied; raises :class:`RecipeError`.

    The result must be runnable: the training data (and, for distillation, the output) must
    be set by the recipe or by an override. The rendered recipe is validated as a whole, so an
    override outside the public recipe's value set (e.g. ``replicas``) is refused with that set.
    """
    requested = dict(overrides or {})
    problems = _override_problems(recipe, requested)
    if problems:
        raise RecipeError.for_source(recipe.source, problems)
    data = to_data(recipe.document)
    targets = OVERRIDE_TARGETS[recipe.technique]
    for name in sorted(requested):
        value = requested[name]
        if name == "learning_rate" and isinstance(value, int):
            value = float(value)
        _set(data, targets[name], value)
    checked_as = f"{recipe.source} with overrides" if requested else recipe.source
    rendered = parse_recipe(data, recipe.technique, name=recipe.name, source=checked_as)
    problems = _missing_inputs(rendered, recipe.source)
    if problems:
        raise RecipeError.for_source(recipe.source, problems)
    return data


def render_yaml(recipe: Recipe, overrides: Mapping[str, object] | None = None) -> str:
    """:func:`render` as YAML text, headed by a comment naming the source and the content hash."""
    return rendered_yaml(recipe, render(recipe, overrides))


def rendered_yaml(recipe: Recipe, data: Mapping[str, Any]) -> str:
    """``data`` (``recipe`` rendered, perhaps renamed for its platform) as YAML headed by its source and hash."""
    header = f"# Rendered from {recipe.source} ({recipe.technique}); recipe_hash {recipe_hash(data)}\n"
    return header + yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=False, allow_unicode=True)


def recipe_hash(rendered: Mapping[str, Any] | str) -> str:
    """SHA-256 (hex) of a rendered recipe's content, independent of key order and comments.

    Accepts :func:`render`'s mapping or :func:`render_yaml`'s text; both give the same hash.
    """
    data = yaml.safe_load(rendered) if isinstance(rendered, str) else rendered
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _override_problems(recipe: Recipe, overrides: Mapping[str, object]) -> list[Problem]:
    allowed = allowed_overrides(recipe)
    names = ", ".join(allowed)
    found: list[Problem] = []
    for name in sorted(overrides):
        value, key = overrides[name], f"overrides.{name}"
        if name not in OVERRIDE_NAMES:
            found.append(Problem.unknown_key(key, allowed))
        elif name not in allowed:
            found.append(
                Problem(key, name, f"an override the {recipe.name} recipe ({recipe.technique}) accepts: {names}")
            )
        elif name in _S3_OVERRIDES:
            found += s3_uri(key, value, empty_ok=False) if isinstance(value, str) else [_s3_type(key, value)]
        elif name == "learning_rate":
            if isinstance(value, bool) or not isinstance(value, int | float):
                found.append(Problem(key, value, "a number > 0 and < 1"))
            else:
                found += learning_rate(key, value)
        elif type(value) is int:
            found += positive_int(key, value)
        else:
            found.append(Problem(key, value, "a positive integer"))
    return found


def _s3_type(key: str, value: object) -> Problem:
    return Problem(key, value, S3_URI_FORM)


def _missing_inputs(recipe: Recipe, source: str) -> list[Problem]:
    document = recipe.document
    found: list[Problem] = []
    if not document.run.data_s3_path:
        found.append(
            Problem.missing("overrides.train", f"{source} leaves run.data_s3_path empty, so a run must set it")
        )
    if recipe.technique == "distillation" and not document.run.output_s3_path:
        found.append(Problem.missing("overrides.output", "Bedrock writes the distillation job's output there"))
    return found


def _set(data: dict[str, Any], path: Path, value: object) -> None:
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
