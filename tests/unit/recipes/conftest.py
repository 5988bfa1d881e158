"""Shared helpers for the recipe tests: the committed recipes, and raw copies to break."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from customization.recipes import RECIPES_DIR, Recipe, RecipeError, Technique, load_all, parse_recipe


@pytest.fixture(scope="session")
def recipes() -> dict[str, Recipe]:
    return load_all()


@pytest.fixture
def raw() -> Callable[[str], dict[str, Any]]:
    """A fresh, mutable copy of a committed recipe's YAML, by name (``training/sft_lora``)."""

    def load(name: str) -> dict[str, Any]:
        return yaml.safe_load((RECIPES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))

    return load


@pytest.fixture
def error_for() -> Callable[[dict[str, Any], Technique, str], str]:
    """The message a broken recipe raises; fails the test if it parses."""

    def parse(document: dict[str, Any], technique: Technique, name: str) -> str:
        with pytest.raises(RecipeError) as caught:
            parse_recipe(document, technique, name=name, source=f"recipes/{name}.yaml")
        return str(caught.value)

    return parse
