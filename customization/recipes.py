"""Loads the Nova recipes under ``recipes/`` into typed, validated :class:`Recipe` objects.

This is the module the workflow imports: loading (:func:`load_recipe`, :func:`load_all`),
rendering a run's overrides (:func:`render`, :func:`render_yaml`, :func:`recipe_hash`) and
the platforms a technique runs on (:func:`platforms_for`). Every rule a file breaks is
reported at once in a :class:`RecipeError` (a ``ValueError``) whose lines read
``recipes/training/sft_lora.yaml: training_config.model.optim.lrr: unknown key; ...``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from customization.nova import TRAINING_TECHNIQUES, Platform, Technique, platforms_for
from customization.problems import Problem, RecipeError
from customization.recipe_model import KINDS, Recipe, parse_recipe, technique_for
from customization.recipe_render import allowed_overrides, recipe_hash, render, render_yaml, rendered_yaml

__all__ = [
    "RECIPES_DIR",
    "Platform",
    "Recipe",
    "RecipeError",
    "Technique",
    "allowed_overrides",
    "load_all",
    "load_recipe",
    "parse_recipe",
    "platforms_for",
    "recipe_hash",
    "render",
    "render_yaml",
    "rendered_yaml",
]

RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


def load_recipe(path: Path) -> Recipe:
    """Parse ``<root>/<kind>/<name>.yaml``; the technique comes from ``kind`` and ``name``."""
    kind, stem = path.parent.name, path.stem
    source = f"{path.parent.parent.name}/{kind}/{path.name}"
    technique = technique_for(kind, stem)
    if technique is None:
        raise RecipeError.for_source(source, [_misplaced(kind, stem)])
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise RecipeError.for_source(source, [Problem.invalid_yaml(error)]) from error
    return parse_recipe(raw, technique, name=f"{kind}/{stem}", source=source)


def load_all(root: Path = RECIPES_DIR) -> dict[str, Recipe]:
    """Every recipe under ``root`` by name (``training/sft_lora``, ``training/cpt``), sorted.

    Problems from all files are reported together; a YAML file outside ``training/`` (or a
    ``.yml`` file) is a problem too, so nothing is silently skipped.
    """
    recipes: dict[str, Recipe] = {}
    problems: list[tuple[str, Problem]] = []
    for path in sorted([*root.rglob("*.yaml"), *root.rglob("*.yml")]):
        source = f"{root.name}/{path.relative_to(root).as_posix()}"
        relative = path.relative_to(root)
        if path.suffix != ".yaml" or len(relative.parts) != 2 or relative.parts[0] not in KINDS:
            allowed = "a .yaml file directly in " + " or ".join(f"{root.name}/{kind}/" for kind in KINDS)
            problems.append((source, Problem("(file)", relative.as_posix(), allowed)))
            continue
        try:
            recipe = load_recipe(path)
        except RecipeError as error:
            problems += error.problems
            continue
        recipes[recipe.name] = recipe
    if not recipes and not problems:
        problems.append((root.name, Problem("(folder)", "empty", "training/*.yaml recipe files")))
    if problems:
        raise RecipeError(problems)
    return recipes


def _misplaced(kind: str, stem: str) -> Problem:
    if kind != "training":
        return Problem("(file)", f"{kind}/{stem}.yaml", "a file in training/")
    names = ", ".join(f"{technique}.yaml" for technique in TRAINING_TECHNIQUES)
    return Problem("(file name)", f"{stem}.yaml", f"one of {names}, or <technique>__<variant>.yaml for a second recipe")
