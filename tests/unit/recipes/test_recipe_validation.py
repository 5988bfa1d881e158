"""Broken recipes are rejected with the file, the dotted key, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from customization.recipes import RECIPES_DIR, RecipeError, load_all, load_recipe, parse_recipe

SFT = "recipes/training/sft_lora.yaml"


def test_unknown_key_is_named_with_its_file_and_the_known_keys(raw, error_for):
    recipe = raw("training/sft_lora")
    recipe["training_config"]["model"]["optim"]["lrr"] = 1.0e-5
    message = error_for(recipe, "sft_lora", "training/sft_lora")
    assert (
        f"{SFT}: training_config.model.optim.lrr: 'lrr' is not allowed; "
        "expected one of name, lr, adam_w_mode, eps, weight_decay, betas, sched"
    ) in message


def test_unknown_top_level_key_is_rejected(raw, error_for):
    recipe = raw("training/sft_lora")
    recipe["training"] = {}
    assert "training: 'training' is not allowed; expected one of run, training_config" in error_for(
        recipe, "sft_lora", "training/sft_lora"
    )


def test_missing_required_key_is_named(raw, error_for):
    recipe = raw("training/sft_lora")
    del recipe["run"]["replicas"]
    expected = f"{SFT}: run.replicas: missing; expected a value (this key is required)"
    assert expected in error_for(recipe, "sft_lora", "training/sft_lora")


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            "training_config.trainer.max_epochs",
            -1,
            "training_config.trainer.max_epochs: -1 is not allowed; expected a positive integer",
        ),
        (
            "training_config.trainer.max_epochs",
            0,
            "training_config.trainer.max_epochs: 0 is not allowed; expected a positive integer",
        ),
        (
            "training_config.model.optim.lr",
            0.0,
            "training_config.model.optim.lr: 0.0 is not allowed; expected a learning rate > 0 and < 1",
        ),
        (
            "training_config.model.optim.lr",
            1.0,
            "training_config.model.optim.lr: 1.0 is not allowed; expected a learning rate > 0 and < 1",
        ),
        (
            "training_config.global_batch_size",
            -8,
            "training_config.global_batch_size: -8 is not allowed; expected one of 16, 32, 64 (sft_lora on "
            "amazon.nova-lite-v1:0:300k, per the public recipe nova_lite_1_0_p5_p4d_gpu_lora_sft.yaml)",
        ),
        ("run.replicas", 0, "run.replicas: 0 is not allowed; expected one of 4, 8, 16 (sft_lora on amazon.nova-lite"),
        ("run.replicas", True, "run.replicas: true is not allowed; expected an integer"),
        (
            "training_config.trainer.max_epochs",
            1.5,
            "training_config.trainer.max_epochs: 1.5 is not allowed; expected an integer",
        ),
        (
            "training_config.model.hidden_dropout",
            1.0,
            "training_config.model.hidden_dropout: 1.0 is not allowed; expected a number >= 0 and < 1",
        ),
        (
            "training_config.model.optim.betas",
            [0.9],
            "training_config.model.optim.betas: [0.9] is not allowed; expected two numbers",
        ),
        (
            "training_config.model.optim.name",
            "adam",
            "training_config.model.optim.name: 'adam' is not allowed; expected one of 'distributed_fused_adam'",
        ),
        (
            "training_config.model.peft.lora_tuning.alpha",
            0,
            "training_config.model.peft.lora_tuning.alpha: 0 is not allowed; "
            "expected one of 32, 64, 96, 128, 160, 192 (the public LoRA recipes)",
        ),
        ("run.name", "my run!", "run.name: 'my run!' is not allowed; expected 1-63 letters, digits and hyphens"),
        (
            "run.data_s3_path",
            "my-bucket/train.jsonl",
            "run.data_s3_path: 'my-bucket/train.jsonl' is not allowed; expected an S3 URI of the form s3://bucket/key",
        ),
    ],
)
def test_bad_values_are_rejected_with_field_value_and_allowed(raw, error_for, path, value, expected):
    recipe = raw("training/sft_lora")
    *parents, leaf = path.split(".")
    node = recipe
    for part in parents:
        node = node[part]
    node[leaf] = value
    assert f"{SFT}: {expected}" in error_for(recipe, "sft_lora", "training/sft_lora")


def test_exponent_without_a_dot_is_explained(raw, error_for):
    recipe = raw("training/sft_lora")
    recipe["training_config"]["model"]["optim"]["lr"] = "1e-5"  # what yaml.safe_load makes of `lr: 1e-5`
    message = error_for(recipe, "sft_lora", "training/sft_lora")
    assert "optim.lr: '1e-5' is not allowed; expected a number (YAML 1.1 reads an exponent without a dot" in message


def test_every_value_problem_is_reported_at_once(raw, error_for):
    recipe = raw("training/sft_lora")
    recipe["training_config"]["trainer"]["max_epochs"] = -1
    recipe["training_config"]["model"]["optim"]["lr"] = 0.0
    recipe["run"]["replicas"] = 0
    message = error_for(recipe, "sft_lora", "training/sft_lora")
    assert len(message.splitlines()) == 3
    assert all(line.startswith(f"{SFT}: ") for line in message.splitlines())


def test_min_lr_must_stay_below_lr(raw, error_for):
    recipe = raw("training/sft_lora")
    recipe["training_config"]["model"]["optim"]["sched"]["min_lr"] = 2.0e-5
    message = error_for(recipe, "sft_lora", "training/sft_lora")
    assert (
        "sched.min_lr: 2e-05 is not allowed; expected a number below training_config.model.optim.lr (1e-05)" in message
    )


def test_unknown_model_type_lists_the_nova_models(raw, error_for):
    recipe = raw("training/sft_lora")
    recipe["run"]["model_type"] = "amazon.nova-lite-v1:0"
    message = error_for(recipe, "sft_lora", "training/sft_lora")
    assert (
        "run.model_type: 'amazon.nova-lite-v1:0' is not allowed; expected one of amazon.nova-micro-v1:0:128k,"
        in message
    )


def test_checkpoint_must_belong_to_the_model_type(raw, error_for):
    recipe = raw("training/sft_lora")
    recipe["run"]["model_name_or_path"] = "nova-pro/prod"
    message = error_for(recipe, "sft_lora", "training/sft_lora")
    assert "run.model_name_or_path: 'nova-pro/prod' is not allowed; expected 'nova-lite/prod'" in message


def test_a_trained_checkpoint_in_s3_is_a_valid_starting_point(raw):
    recipe = raw("training/dpo_lora")
    recipe["run"]["model_name_or_path"] = "s3://customer-escrow-bucket/sft-run/checkpoint"
    parsed = parse_recipe(recipe, "dpo_lora", name="training/dpo_lora", source="recipes/training/dpo_lora.yaml")
    assert parsed.run.model_name_or_path.startswith("s3://")


def test_lora_technique_rejects_a_full_rank_recipe(raw, error_for):
    recipe = raw("training/sft_full")
    message = error_for(recipe, "sft_lora", "training/sft_lora")
    assert "peft.peft_scheme: null is not allowed; expected 'lora' (sft_lora trains an adapter)" in message
    assert "peft.lora_tuning: missing; expected a value (required when peft_scheme is 'lora')" in message


def test_full_rank_technique_rejects_a_lora_recipe(raw, error_for):
    recipe = raw("training/dpo_lora")
    message = error_for(recipe, "dpo_full", "training/dpo_full")
    assert "peft.peft_scheme: 'lora' is not allowed; expected null (dpo_full updates every weight)" in message
    assert "expected null or no key (peft_scheme is null)" in message


def test_peft_scheme_accepts_only_lora_or_null(raw, error_for):
    recipe = raw("training/sft_lora")
    recipe["training_config"]["model"]["peft"]["peft_scheme"] = "qlora"
    assert "peft_scheme: 'qlora' is not allowed; expected one of 'lora' or null" in error_for(
        recipe, "sft_lora", "training/sft_lora"
    )


def test_dpo_needs_its_beta_and_sft_rejects_one(raw, error_for):
    dpo = raw("training/dpo_lora")
    dpo["training_config"]["model"]["dpo_cfg"]["beta"] = 0.0
    assert "dpo_cfg.beta: 0.0 is not allowed; expected a number from 0.001 to 0.5" in error_for(
        dpo, "dpo_lora", "training/dpo_lora"
    )
    sft = raw("training/sft_lora")
    sft["training_config"]["model"]["dpo_cfg"] = {"beta": 0.1}
    assert "training_config.model.dpo_cfg: 'dpo_cfg' is not allowed" in error_for(sft, "sft_lora", "training/sft_lora")


def test_ppo_roles_must_use_their_own_replica_count(raw, error_for):
    recipe = raw("training/ppo")
    recipe["ppo_critic"]["trainer"]["num_nodes"] = "${recipes.run.rm_replicas}"
    recipe["run"]["am_replicas"] = 0
    message = error_for(recipe, "ppo", "training/ppo")
    assert (
        "ppo_critic.trainer.num_nodes: '${recipes.run.rm_replicas}' is not allowed; "
        "expected '${recipes.run.cm_replicas}'"
    ) in message
    assert "run.am_replicas: 0 is not allowed; expected a positive integer" in message


def test_ppo_clip_ratio_is_a_fraction(raw, error_for):
    recipe = raw("training/ppo")
    recipe["ppo_actor_train"]["model"]["clip_ratio"] = 1.5
    assert "ppo_actor_train.model.clip_ratio: 1.5 is not allowed; expected a number > 0 and < 1" in error_for(
        recipe, "ppo", "training/ppo"
    )


def test_distillation_teacher_must_be_a_nova_teacher(raw, error_for):
    recipe = raw("training/distillation")
    recipe["training_config"]["teacher_model_id"] = "amazon.nova-lite-v1:0"
    message = error_for(recipe, "distillation", "training/distillation")
    assert "training_config.teacher_model_id: 'amazon.nova-lite-v1:0' is not allowed; expected one of" in message


def test_distillation_student_must_be_smaller_than_its_teacher(raw, error_for):
    recipe = raw("training/distillation")
    recipe["run"]["model_type"] = "amazon.nova-pro-v1:0:300k"
    message = error_for(recipe, "distillation", "training/distillation")
    assert (
        "run.model_type: 'amazon.nova-pro-v1:0:300k' is not allowed; expected a student of amazon.nova-pro-v1:0"
        in message
    )


def test_distillation_response_length_is_positive(raw, error_for):
    recipe = raw("training/distillation")
    recipe["training_config"]["max_response_length"] = 0
    assert "training_config.max_response_length: 0 is not allowed; expected a positive integer" in error_for(
        recipe, "distillation", "training/distillation"
    )


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_training_file_must_be_named_for_a_technique(tmp_path: Path):
    path = write(tmp_path / "recipes", "training/sft.yaml", "run: {}\n")
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    assert "recipes/training/sft.yaml: (file name): 'sft.yaml' is not allowed; expected one of sft_lora.yaml" in str(
        caught.value
    )


def test_a_variant_file_takes_its_technique_from_the_prefix(tmp_path: Path):
    source = RECIPES_DIR / "training" / "sft_full.yaml"
    path = write(tmp_path / "recipes", "training/sft_full__micro.yaml", source.read_text(encoding="utf-8"))
    recipe = load_recipe(path)
    assert (recipe.name, recipe.technique) == ("training/sft_full__micro", "sft_full")


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path):
    path = write(tmp_path / "recipes", "training/cpt.yaml", "run:\n  name: x\n bad: [\n")
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    assert str(caught.value).startswith('recipes/training/cpt.yaml: (file): "expected <block end>')
    assert "(line " in str(caught.value)


def test_load_all_reports_every_bad_file_and_stray_yaml(tmp_path: Path, raw):
    root = tmp_path / "recipes"
    write(root, "training/ppo.yaml", "run: []\n")
    write(root, "evaluation/general_text_benchmark.yaml", "evaluation: {}\n")
    write(root, "notes.yaml", "a: 1\n")
    write(root, "training/sft_lora.yml", "a: 1\n")
    with pytest.raises(RecipeError) as caught:
        load_all(root)
    message = str(caught.value)
    assert "recipes/training/ppo.yaml: run: [] is not allowed; expected a mapping of keys to values" in message
    # Nothing runs evaluation recipes: the loader reads training/ only.
    assert (
        "recipes/evaluation/general_text_benchmark.yaml: (file): 'evaluation/general_text_benchmark.yaml' is not "
        "allowed; expected a .yaml file directly in recipes/training/"
    ) in message
    assert "recipes/notes.yaml: (file): 'notes.yaml' is not allowed; expected a .yaml file directly in" in message
    assert "recipes/training/sft_lora.yml: (file)" in message


def test_an_empty_folder_is_an_error_not_an_empty_result(tmp_path: Path):
    (tmp_path / "recipes").mkdir()
    with pytest.raises(RecipeError, match=r"expected training/\*\.yaml recipe files"):
        load_all(tmp_path / "recipes")


def test_recipe_error_is_a_value_error():
    assert issubclass(RecipeError, ValueError)
