"""What a broken rule reports, for config, recipes and workflow input alike.

One shape everywhere: the dotted key, the bad value and what is allowed, rendered as
``key: value is not allowed; expected allowed``. Loaders collect every problem of a file
before they raise, so a file is fixed in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import yaml

MISSING = object()
"""The value of a :meth:`Problem.missing` problem: the key is absent (not ``null``)."""


@dataclass(frozen=True)
class Problem:
    """One rule a value breaks: where it is (``key``), what it is (``value``), what is allowed."""

    key: str
    value: object
    allowed: str

    @classmethod
    def missing(cls, key: str, reason: str = "this key is required") -> Problem:
        """A key that must be there; ``reason`` says why when a rule, not the schema, requires it."""
        return cls(key, MISSING, f"a value ({reason})")

    @classmethod
    def invalid_yaml(cls, error: yaml.YAMLError) -> Problem:
        """A file the YAML parser refuses: its complaint and line, e.g. ``expected <block end>, ... (line 7)``."""
        if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
            mark = error.problem_mark
            complaint = f"{error.problem} (line {mark.line + 1}, column {mark.column + 1})"
        else:
            complaint = str(error).splitlines()[0] if str(error) else type(error).__name__
        return cls("(file)", complaint, "valid YAML")

    @classmethod
    def unknown_key(cls, key: str, known: Iterable[str]) -> Problem:
        """``key``'s last part names nothing here; ``known`` lists what would."""
        return cls(key, key.rsplit(".", 1)[-1], "one of " + ", ".join(known))

    def __str__(self) -> str:
        if self.value is MISSING:
            return f"{self.key}: missing; expected {self.allowed}"
        return f"{self.key}: {_shown(self.value)} is not allowed; expected {self.allowed}"


def _shown(value: object) -> str:
    """A value as the file says it: YAML's ``null``, ``true`` and ``false``, else Python's repr."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


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
