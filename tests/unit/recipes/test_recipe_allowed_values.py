"""The value sets of the public Nova recipes, per model and technique (customization.nova.PUBLIC_RECIPES and
friends): a recipe outside them is refused with the allowed values and the public recipe they come from."""

from __future__ import annotations

from typing import Any

import pytest

from customization import nova
from customization.recipes import RECIPES_DIR, parse_recipe

MICRO, LITE, PRO, LITE_2 = nova.NOVA_MICRO, nova.NOVA_LITE, nova.NOVA_PRO, nova.NOVA_2_LITE
TECHNIQUES = ("sft_lora", "sft_full", "dpo_lora", "dpo_full", "cpt")


def for_model(recipe: dict[str, Any], model_type: str) -> dict[str, Any]:
    """``recipe`` naming ``model_type`` and its base checkpoint."""
    recipe["run"]["model_type"] = model_type
    recipe["run"]["model_name_or_path"] = nova.MODEL_BASE_PATHS[model_type]
    return recipe


def parses(recipe: dict[str, Any], technique: nova.Technique) -> bool:
    return parse_recipe(recipe, technique, name=f"training/{technique}", source="t").technique == technique


@pytest.mark.parametrize(
    ("technique", "model_type", "replicas", "allowed"),
    [
        (
            "sft_lora",
            MICRO,
            16,
            "2, 4, 8 (sft_lora on amazon.nova-micro-v1:0:128k, per the public recipe "
            "nova_micro_1_0_p5_p4d_gpu_lora_sft.yaml)",
        ),
        ("sft_lora", LITE, 2, "4, 8, 16 (sft_lora on amazon.nova-lite-v1:0:300k"),
        (
            "sft_full",
            PRO,
            4,
            "6, 12, 24 (sft_full on amazon.nova-pro-v1:0:300k, per the public recipe nova_pro_1_0_p5_gpu_sft.yaml)",
        ),
        ("dpo_lora", PRO, 4, "6, 12, 24 (dpo_lora on amazon.nova-pro-v1:0:300k"),
        ("dpo_full", MICRO, 16, "2, 4, 8 (dpo_full on amazon.nova-micro-v1:0:128k"),
        (
            "cpt",
            MICRO,
            64,
            "2, 4, 8, 16, 32 (cpt on amazon.nova-micro-v1:0:128k, per the public recipe "
            "nova_micro_1_0_p5x8_gpu_pretrain.yaml)",
        ),
        ("cpt", LITE, 2, "4, 8, 16, 32 (cpt on amazon.nova-lite-v1:0:300k"),
        ("cpt", PRO, 32, "6, 12, 24 (cpt on amazon.nova-pro-v1:0:300k"),
    ],
)
def test_replicas_outside_the_models_public_recipe_are_refused(
    raw, error_for, technique, model_type, replicas, allowed
):
    recipe = for_model(raw(f"training/{technique}"), model_type)
    recipe["run"]["replicas"] = replicas
    if model_type == PRO and technique.startswith("sft"):
        recipe["training_config"]["global_batch_size"] = 32  # Pro's SFT recipes stop at 32

    message = error_for(recipe, technique, f"training/{technique}")

    assert message.startswith(
        f"recipes/training/{technique}.yaml: run.replicas: {replicas} is not allowed; expected one of {allowed}"
    )
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize(
    ("technique", "model_type", "size", "allowed"),
    [
        ("sft_lora", LITE, 128, "16, 32, 64 (sft_lora on amazon.nova-lite-v1:0:300k"),
        ("sft_full", PRO, 64, "16, 32 (sft_full on amazon.nova-pro-v1:0:300k"),
        ("dpo_lora", LITE, 512, "16, 32, 64, 128, 256 (dpo_lora on amazon.nova-lite-v1:0:300k"),
        ("dpo_full", PRO, 256, "16, 32, 64, 128 (dpo_full on amazon.nova-pro-v1:0:300k"),
        ("cpt", LITE, 16, "32, 64, 128, 256 (cpt on amazon.nova-lite-v1:0:300k"),
    ],
)
def test_a_global_batch_size_outside_the_models_public_recipe_is_refused(
    raw, error_for, technique, model_type, size, allowed
):
    recipe = for_model(raw(f"training/{technique}"), model_type)
    recipe["run"]["replicas"] = nova.PUBLIC_RECIPES[technique][model_type].replicas[0]
    recipe["training_config"]["global_batch_size"] = size

    message = error_for(recipe, technique, f"training/{technique}")

    assert message.startswith(
        f"recipes/training/{technique}.yaml: training_config.global_batch_size: {size} is not allowed; "
        f"expected one of {allowed}"
    )
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_each_model_with_a_public_recipe_parses_at_its_smallest_and_largest_values(raw, technique):
    for model_type, public in nova.PUBLIC_RECIPES[technique].items():
        smallest = (min(public.replicas), min(public.global_batch_sizes))
        largest = (max(public.replicas), max(public.global_batch_sizes))
        for replicas, size in (smallest, largest):
            recipe = for_model(raw(f"training/{technique}"), model_type)
            recipe["run"]["replicas"] = replicas
            recipe["training_config"]["global_batch_size"] = size
            assert parses(recipe, technique), (model_type, replicas, size)


@pytest.mark.parametrize("technique", ["dpo_lora", "dpo_full", "ppo"])
def test_a_dpo_or_ppo_recipe_naming_nova_2_lite_is_refused_as_it_has_no_public_recipe(raw, error_for, technique):
    recipe = for_model(raw(f"training/{technique}"), LITE_2)

    message = error_for(recipe, technique, f"training/{technique}")

    assert message == (
        f"recipes/training/{technique}.yaml: run.model_type: 'amazon.nova-2-lite-v1:0:256k' is not allowed; "
        "expected one of amazon.nova-micro-v1:0:128k, amazon.nova-lite-v1:0:300k, amazon.nova-pro-v1:0:300k "
        f"(the models with a public {technique} recipe)"
    )


def test_a_cpt_recipe_naming_nova_2_lite_is_refused_as_its_public_recipe_has_another_shape(raw, error_for):
    recipe = for_model(raw("training/cpt"), LITE_2)

    message = error_for(recipe, "cpt", "training/cpt")

    assert message == (
        "recipes/training/cpt.yaml: run.model_type: 'amazon.nova-2-lite-v1:0:256k' is not allowed; "
        "expected one of amazon.nova-micro-v1:0:128k, amazon.nova-lite-v1:0:300k, amazon.nova-pro-v1:0:300k "
        "(Nova 2 Lite's public CPT recipe, nova_lite_2_0_p5x8_gpu_pretrain.yaml, has another shape: "
        "training_config.optim beside model, and trainer.max_steps instead of max_epochs)"
    )


@pytest.mark.parametrize(
    ("technique", "public_file"),
    [("sft_lora", "nova_lite_2_0_p5_gpu_lora_sft.yaml"), ("sft_full", "nova_lite_2_0_p5_gpu_sft.yaml")],
)
def test_an_sft_recipe_naming_nova_2_lite_is_refused_as_its_public_recipe_has_another_shape(
    raw, error_for, technique, public_file
):
    recipe = for_model(raw(f"training/{technique}"), LITE_2)

    message = error_for(recipe, technique, f"training/{technique}")

    assert message.startswith(
        f"recipes/training/{technique}.yaml: run.model_type: 'amazon.nova-2-lite-v1:0:256k' is not allowed; "
    )
    assert f"{public_file}, has another shape: training_config.max_steps instead of trainer.max_epochs" in message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("run.validation_data_s3_path", ""),
        ("training_config.trainer.early_stopping", {"monitor": "val_loss", "patience": 3, "min_delta": 0.001}),
        ("training_config.trainer.val_check_interval", 100),
        ("training_config.trainer.limit_val_batches", 10),
        ("training_config.data_mixing", {"customer_data_percent": 70.0, "nova_data": {"general": 100.0}}),
    ],
)
def test_cpt_refuses_keys_the_public_nova_1_cpt_recipe_does_not_have(raw, error_for, key, value):
    recipe = raw("training/cpt")
    *parents, leaf = key.split(".")
    node = recipe
    for part in parents:
        node = node[part]
    node[leaf] = value

    assert f"recipes/training/cpt.yaml: {key}: '{leaf}' is not allowed; expected one of " in error_for(
        recipe, "cpt", "training/cpt"
    )


@pytest.mark.parametrize(("model_type", "replicas", "allowed"), [(LITE, 4, "2"), (MICRO, 6, "2"), (PRO, 2, "6")])
def test_ppo_actor_train_replicas_are_the_public_templates_per_model(raw, error_for, model_type, replicas, allowed):
    recipe = for_model(raw("training/ppo"), model_type)
    recipe["run"]["actor_train_replicas"] = replicas

    assert error_for(recipe, "ppo", "training/ppo") == (
        f"recipes/training/ppo.yaml: run.actor_train_replicas: {replicas} is not allowed; expected one of "
        f"{allowed} (ppo on {model_type}, per the public launcher's PPO template)"
    )


def test_a_pro_ppo_recipe_trains_its_actor_on_6_nodes(raw):
    recipe = for_model(raw("training/ppo"), PRO)
    recipe["run"]["actor_train_replicas"] = 6

    assert parses(recipe, "ppo")


@pytest.mark.parametrize("technique", ["sft_lora", "dpo_lora"])
@pytest.mark.parametrize(("alpha", "accepted"), [(32, True), (192, True), (48, False), (256, False)])
def test_lora_alpha_is_one_of_the_public_values(raw, error_for, technique, alpha, accepted):
    recipe = raw(f"training/{technique}")
    recipe["training_config"]["model"]["peft"]["lora_tuning"]["alpha"] = alpha

    if accepted:
        assert parses(recipe, technique)
    else:
        assert error_for(recipe, technique, f"training/{technique}") == (
            f"recipes/training/{technique}.yaml: training_config.model.peft.lora_tuning.alpha: {alpha} is not "
            "allowed; expected one of 32, 64, 96, 128, 160, 192 (the public LoRA recipes)"
        )


@pytest.mark.parametrize("technique", ["dpo_lora", "dpo_full"])
@pytest.mark.parametrize(("beta", "accepted"), [(0.001, True), (0.5, True), (0.0005, False), (0.6, False)])
def test_dpo_beta_is_within_the_public_limits(raw, error_for, technique, beta, accepted):
    recipe = raw(f"training/{technique}")
    recipe["training_config"]["model"]["dpo_cfg"]["beta"] = beta

    if accepted:
        assert parses(recipe, technique)
    else:
        assert error_for(recipe, technique, f"training/{technique}") == (
            f"recipes/training/{technique}.yaml: training_config.model.dpo_cfg.beta: {beta} is not allowed; "
            "expected a number from 0.001 to 0.5 (the public DPO recipes)"
        )


@pytest.mark.parametrize("technique", [*TECHNIQUES, "ppo"])
@pytest.mark.parametrize("key", ["mlflow_experiment_name", "mlflow_run_name"])
def test_the_mlflow_names_must_not_be_empty(raw, error_for, technique, key):
    recipe = raw(f"training/{technique}")
    recipe["run"][key] = " "
    empty = error_for(recipe, technique, f"training/{technique}")
    del recipe["run"][key]
    missing = error_for(recipe, technique, f"training/{technique}")

    assert empty == (
        f"recipes/training/{technique}.yaml: run.{key}: ' ' is not allowed; "
        'expected a non-empty name (the public Nova recipes: "leave this field non-empty")'
    )
    assert missing == f"recipes/training/{technique}.yaml: run.{key}: missing; expected a value (this key is required)"


def test_the_mlflow_tracking_uri_may_stay_empty_or_be_left_out(raw):
    recipe = raw("training/sft_lora")
    assert recipe["run"]["mlflow_tracking_uri"] == ""
    del recipe["run"]["mlflow_tracking_uri"]

    assert parses(recipe, "sft_lora")


def test_the_value_tables_cover_the_same_models_per_technique():
    for technique, models in nova.PUBLIC_RECIPES.items():
        assert set(models) <= set(nova.MODEL_TYPES), technique
        for public in models.values():
            assert public.replicas == tuple(sorted(public.replicas))
            assert public.global_batch_sizes == tuple(sorted(public.global_batch_sizes))
            assert public.file.endswith(".yaml")
    assert LITE_2 not in nova.PUBLIC_RECIPES["dpo_lora"] and LITE_2 not in nova.PUBLIC_RECIPES["dpo_full"]
    assert LITE_2 not in nova.PPO_ACTOR_TRAIN_REPLICAS


def readme_value_table() -> dict[tuple[str, str], dict[str, str]]:
    """recipes/README.md's table of allowed values: (technique, key) -> model -> cell."""
    rows = {}
    for line in (RECIPES_DIR / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[1].startswith(("run.", "training_config.")):
            rows[(cells[0], cells[1])] = dict(zip((MICRO, LITE, PRO, LITE_2), cells[2:], strict=True))
    return rows


def test_the_readme_states_the_value_sets_the_loader_enforces():
    rows = readme_value_table()
    for technique, models in nova.PUBLIC_RECIPES.items():
        for model_type, public in models.items():
            for key, values in (
                ("run.replicas", public.replicas),
                ("training_config.global_batch_size", public.global_batch_sizes),
            ):
                row = rows.get((technique, key)) or rows[(technique[:4] + "*", key)]
                assert row[model_type] == ", ".join(str(value) for value in values), (technique, key, model_type)
    for model_type, replicas in nova.PPO_ACTOR_TRAIN_REPLICAS.items():
        assert rows[("ppo", "run.actor_train_replicas")][model_type] == ", ".join(str(value) for value in replicas)
