"""What a broken recipe reports: the file, the dotted key, the bad value and what is allowed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One rule a recipe value breaks; ``str()`` gives ``key: message``."""

    key: str
    message: str

    @classmethod
    def bad_value(cls, key: str, value: object, allowed: str) -> Problem:
        return cls(key, f"{value!r} is not allowed; expected {allowed}")

    @classmethod
    def unknown_key(cls, key: str, known: Iterable[str]) -> Problem:
        return cls(key, "unknown key; expected one of " + ", ".join(known))

    @classmethod
    def missing(cls, key: str) -> Problem:
        return cls(key, "missing; this key is required")

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class RecipeError(ValueError):
    """A recipe (or a run's overrides) breaks rules; the message has one line per problem.

    Every line starts with the recipe's source so that problems from several files, as
    :func:`customization.recipes.load_all` reports them, stay attributable.
    """

    def __init__(self, problems: Sequence[tuple[str, Problem]]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(f"{source}: {problem}" for source, problem in self.problems))

    @classmethod
    def for_source(cls, source: str, problems: Iterable[Problem]) -> RecipeError:
        return cls([(source, problem) for problem in problems])
