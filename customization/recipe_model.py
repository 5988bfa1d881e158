"""A parsed recipe: its technique, where it came from, and its typed content.

The technique comes from the file's place, not from a key inside it, so the YAML keeps
exactly the public Nova recipe keys: ``training/<technique>.yaml`` (or
``training/<technique>__<variant>.yaml`` for a second recipe of one technique). Parsing
checks the shape first (types, unknown and missing keys), then, once the shape is right,
every value rule; each phase reports all it finds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from customization import nova
from customization.nova import Platform, Technique
from customization.problems import Problem, RecipeError
from customization.recipe_distillation import DistillationDocument
from customization.recipe_ppo import PpoDocument
from customization.recipe_pretraining import CptDocument
from customization.recipe_tuning import DpoDocument, SftDocument
from customization.typed_yaml import parse_typed

Document = SftDocument | DpoDocument | CptDocument | PpoDocument | DistillationDocument

DOCUMENTS: dict[Technique, type[Document]] = {
    "sft_lora": SftDocument,
    "sft_full": SftDocument,
    "dpo_lora": DpoDocument,
    "dpo_full": DpoDocument,
    "ppo": PpoDocument,
    "distillation": DistillationDocument,
    "cpt": CptDocument,
}
KINDS = ("training",)
VARIANT_SEPARATOR = "__"


@dataclass(frozen=True)
class Recipe:
    """One validated recipe file. ``name`` is ``<kind>/<file stem>``, e.g. ``training/sft_lora``."""

    name: str
    technique: Technique
    source: str
    document: Document

    @property
    def run(self) -> Any:
        """The ``run`` section (its class depends on the technique)."""
        return self.document.run

    @property
    def training_config(self) -> Any | None:
        """The ``training_config`` section, or ``None`` (PPO recipes have none)."""
        return getattr(self.document, "training_config", None)

    @property
    def platforms(self) -> tuple[Platform, ...]:
        return nova.PLATFORMS[self.technique]


def technique_for(kind: str, stem: str) -> Technique | None:
    """The technique a file at ``<kind>/<stem>.yaml`` holds, or ``None`` if the name says none."""
    if kind != "training":
        return None
    for technique in nova.TRAINING_TECHNIQUES:
        if stem == technique or stem.startswith(technique + VARIANT_SEPARATOR):
            return technique
    return None


def parse_recipe(raw: object, technique: Technique, *, name: str, source: str) -> Recipe:
    """Build a :class:`Recipe` from loaded YAML; raise :class:`RecipeError` naming ``source``."""
    problems: list[Problem] = []
    document = parse_typed(DOCUMENTS[technique], raw, "", problems)
    if document is not None and not problems:
        problems = document.problems(technique)
    if problems:
        raise RecipeError.for_source(source, problems)
    return Recipe(name=name, technique=technique, source=source, document=document)
