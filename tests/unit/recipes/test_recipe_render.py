"""Rendering a run: overrides are checked, applied and nothing else changes; the hash tracks content."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from customization.recipes import Recipe, RecipeError, allowed_overrides, recipe_hash, render, render_yaml

TRAIN = "s3://training-data-bucket/sft/train.jsonl"
OUTPUT = "s3://training-output-bucket/runs/42/"


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): data}


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    old, new = flatten(before), flatten(after)
    assert old.keys() == new.keys()
    return {key: new[key] for key in new if new[key] != old[key]}


def error_for(recipe: Recipe, overrides: dict[str, object]) -> str:
    with pytest.raises(RecipeError) as caught:
        render(recipe, overrides)
    return str(caught.value)


def test_overrides_change_their_keys_and_leave_the_rest(recipes):
    recipe = recipes["training/sft_lora"]
    base = render(recipe, {"train": TRAIN})
    overrides = {
        "train": "s3://training-data-bucket/sft/train-v2.jsonl",
        "output": OUTPUT,
        "epochs": 3,
        "learning_rate": 2.0e-5,
        "replicas": 8,
        "model": "s3://escrow-bucket/cpt-run/checkpoint",
    }
    assert changed(base, render(recipe, overrides)) == {
        "run.data_s3_path": "s3://training-data-bucket/sft/train-v2.jsonl",
        "run.output_s3_path": OUTPUT,
        "training_config.trainer.max_epochs": 3,
        "training_config.model.optim.lr": 2.0e-5,
        "run.replicas": 8,
        "run.model_name_or_path": "s3://escrow-bucket/cpt-run/checkpoint",
    }


def test_render_does_not_change_the_recipe(recipes):
    recipe = recipes["training/sft_lora"]
    render(recipe, {"train": TRAIN, "epochs": 5})
    assert recipe.training_config.trainer.max_epochs == 2
    assert render(recipe, {"train": TRAIN})["training_config"]["trainer"]["max_epochs"] == 2


def test_ppo_learning_rate_override_sets_the_actor_optimizer(recipes):
    recipe = recipes["training/ppo"]
    base = render(recipe, {"train": TRAIN})
    assert changed(base, render(recipe, {"train": TRAIN, "learning_rate": 1.0e-6})) == {
        "ppo_actor_train.model.optim.lr": 1.0e-6
    }


def test_cpt_takes_the_fine_tuning_overrides_and_no_validation_data(recipes):
    recipe = recipes["training/cpt"]
    assert allowed_overrides(recipe) == ("train", "output", "model", "replicas", "epochs", "learning_rate")
    message = error_for(recipe, {"train": TRAIN, "validation": "s3://training-data-bucket/cpt/val.jsonl"})
    assert "overrides.validation: 'validation' is not allowed; expected one of train, output, model" in message


def test_rendered_recipe_keeps_the_public_top_level_keys(recipes):
    assert list(render(recipes["training/sft_full"], {"train": TRAIN})) == ["run", "training_config"]
    assert list(render(recipes["training/ppo"], {"train": TRAIN})) == [
        "run",
        "ppo_actor_generation",
        "ppo_actor_train",
        "ppo_reward",
        "ppo_critic",
        "ppo_anchor",
    ]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"epochs": -1}, "overrides.epochs: -1 is not allowed; expected a positive integer"),
        ({"epochs": 0}, "overrides.epochs: 0 is not allowed; expected a positive integer"),
        ({"epochs": "3"}, "overrides.epochs: '3' is not allowed; expected a positive integer"),
        ({"replicas": True}, "overrides.replicas: true is not allowed; expected a positive integer"),
        ({"learning_rate": 0}, "overrides.learning_rate: 0 is not allowed; expected a learning rate > 0 and < 1"),
        ({"learning_rate": 1.5}, "overrides.learning_rate: 1.5 is not allowed; expected a learning rate > 0 and < 1"),
        ({"learning_rate": "1e-5"}, "overrides.learning_rate: '1e-5' is not allowed; expected a number > 0 and < 1"),
        (
            {"train": "my-bucket/train.jsonl"},
            "overrides.train: 'my-bucket/train.jsonl' is not allowed; expected an S3 URI of the form s3://bucket/key",
        ),
        ({"train": "s3://my-bucket"}, "overrides.train: 's3://my-bucket' is not allowed"),
        ({"train": "s3://My_Bucket/train.jsonl"}, "overrides.train: 's3://My_Bucket/train.jsonl' is not allowed"),
        (
            {"output": "https://my-bucket.s3.amazonaws.com/out/"},
            "overrides.output: 'https://my-bucket.s3.amazonaws.com/out/' is not allowed",
        ),
        ({"train": None}, "overrides.train: null is not allowed; expected an S3 URI of the form s3://bucket/key"),
    ],
)
def test_bad_override_values_are_rejected_with_name_value_and_allowed(recipes, overrides, expected):
    message = error_for(recipes["training/sft_lora"], {"train": TRAIN, **overrides})
    assert f"recipes/training/sft_lora.yaml: {expected}" in message


def test_unknown_override_is_named_and_the_allowed_ones_listed(recipes):
    message = error_for(recipes["training/sft_lora"], {"train": TRAIN, "lr": 1.0e-5})
    assert (
        "recipes/training/sft_lora.yaml: overrides.lr: 'lr' is not allowed; "
        "expected one of train, output, model, replicas, epochs, learning_rate"
    ) in message


def test_override_a_technique_does_not_take_is_rejected(recipes):
    message = error_for(recipes["training/ppo"], {"train": TRAIN, "epochs": 2, "replicas": 4})
    assert (
        "overrides.epochs: 'epochs' is not allowed; expected an override the training/ppo recipe (ppo) accepts: "
        "train, output, model, learning_rate" in message
    )
    assert "overrides.replicas: 'replicas' is not allowed" in message


@pytest.mark.parametrize(
    ("name", "replicas", "allowed"),
    [
        (
            "sft_lora",
            2,
            "4, 8, 16 (sft_lora on amazon.nova-lite-v1:0:300k, per the public recipe "
            "nova_lite_1_0_p5_p4d_gpu_lora_sft.yaml)",
        ),
        ("dpo_full", 32, "4, 8, 16 (dpo_full on amazon.nova-lite-v1:0:300k"),
        (
            "cpt",
            2,
            "4, 8, 16, 32 (cpt on amazon.nova-lite-v1:0:300k, per the public recipe "
            "nova_lite_1_0_p5x16_gpu_pretrain.yaml)",
        ),
    ],
)
def test_a_replicas_override_outside_the_public_recipes_set_is_refused_with_the_set(recipes, name, replicas, allowed):
    # render validates the rendered recipe as a whole, so the loader's value sets hold for overrides too.
    message = error_for(recipes[f"training/{name}"], {"train": TRAIN, "replicas": replicas})
    source = f"recipes/training/{name}.yaml with overrides"
    assert f"{source}: run.replicas: {replicas} is not allowed; expected one of {allowed}" in message


def test_every_bad_override_is_reported_at_once(recipes):
    message = error_for(recipes["training/sft_lora"], {"train": "bucket", "epochs": -1, "lr": 1, "replicas": 0})
    assert len(message.splitlines()) == 4


def test_a_run_must_set_the_data_the_recipe_leaves_empty(recipes):
    assert (
        "recipes/training/sft_lora.yaml: overrides.train: missing; expected a value "
        "(recipes/training/sft_lora.yaml leaves run.data_s3_path empty"
    ) in error_for(recipes["training/sft_lora"], {})
    assert "recipes/training/cpt.yaml: overrides.train: missing" in error_for(recipes["training/cpt"], {})


def test_distillation_needs_an_output_location(recipes):
    message = error_for(recipes["training/distillation"], {"train": TRAIN})
    assert (
        "overrides.output: missing; expected a value (Bedrock writes the distillation job's output there)"
    ) in message


def test_an_override_that_breaks_a_cross_field_rule_is_reported(recipes):
    message = error_for(recipes["training/sft_lora"], {"train": TRAIN, "learning_rate": 1.0e-7})
    assert (
        "recipes/training/sft_lora.yaml with overrides: training_config.model.optim.sched.min_lr: 1e-06 is not "
        "allowed; expected a number below training_config.model.optim.lr (1e-07)"
    ) in message


def test_hash_is_stable_for_the_same_recipe_and_overrides(recipes):
    recipe = recipes["training/dpo_lora"]
    first = recipe_hash(render(recipe, {"train": TRAIN, "epochs": 2}))
    assert first == recipe_hash(render(recipe, {"epochs": 2, "train": TRAIN}))
    assert len(first) == 64 and int(first, 16) >= 0


@pytest.mark.parametrize(
    "other",
    [
        {"train": TRAIN, "epochs": 3},
        {"train": TRAIN, "epochs": 2, "learning_rate": 2.0e-5},
        {"train": "s3://training-data-bucket/sft/other.jsonl", "epochs": 2},
        {"train": TRAIN, "epochs": 2, "output": OUTPUT},
    ],
)
def test_hash_changes_when_an_override_changes(recipes, other):
    recipe = recipes["training/dpo_lora"]
    assert recipe_hash(render(recipe, {"train": TRAIN, "epochs": 2})) != recipe_hash(render(recipe, other))


def test_hash_ignores_key_order_and_yaml_form(recipes):
    recipe = recipes["training/cpt"]
    overrides = {"train": TRAIN, "epochs": 2}
    rendered = render(recipe, overrides)
    reordered = {key: rendered[key] for key in reversed(list(rendered))}
    assert recipe_hash(reordered) == recipe_hash(rendered) == recipe_hash(render_yaml(recipe, overrides))


def test_render_yaml_is_deterministic_and_reads_back_as_the_rendered_recipe(recipes):
    recipe = recipes["training/sft_lora"]
    text = render_yaml(recipe, {"train": TRAIN, "learning_rate": 3.0e-5})
    assert text == render_yaml(recipe, {"learning_rate": 3.0e-5, "train": TRAIN})
    loaded = yaml.safe_load(text)
    assert loaded == render(recipe, {"train": TRAIN, "learning_rate": 3.0e-5})
    assert isinstance(loaded["training_config"]["model"]["optim"]["lr"], float)
    assert text.startswith(
        f"# Rendered from recipes/training/sft_lora.yaml (sft_lora); recipe_hash {recipe_hash(loaded)}\n"
    )
