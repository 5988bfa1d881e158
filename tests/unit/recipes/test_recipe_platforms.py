"""Which platforms can run each technique (sagemaker-training-job, hyperpod, bedrock)."""

from __future__ import annotations

import pytest

from customization.recipes import platforms_for


@pytest.mark.parametrize(
    ("technique", "platforms"),
    [
        ("sft_lora", ("sagemaker-training-job", "hyperpod", "bedrock")),
        ("sft_full", ("sagemaker-training-job", "hyperpod")),
        ("dpo_lora", ("sagemaker-training-job", "hyperpod")),
        ("dpo_full", ("sagemaker-training-job", "hyperpod")),
        ("ppo", ("hyperpod",)),
        ("cpt", ("hyperpod",)),
        ("distillation", ("bedrock",)),
    ],
)
def test_each_technique_runs_where_nova_supports_it(technique, platforms):
    assert platforms_for(technique) == platforms


def test_unknown_technique_is_rejected_with_the_known_ones():
    with pytest.raises(ValueError, match=r"technique: 'rlhf' is not allowed; expected one of sft_lora, sft_full"):
        platforms_for("rlhf")


def test_evaluation_is_not_a_technique_any_more():
    with pytest.raises(
        ValueError, match=r"technique: 'evaluation' is not allowed; expected one of [a-z_, ]*distillation$"
    ):
        platforms_for("evaluation")


def test_each_recipe_reports_the_platforms_of_its_technique(recipes):
    for recipe in recipes.values():
        assert recipe.platforms == platforms_for(recipe.technique)
