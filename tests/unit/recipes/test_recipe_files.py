"""The committed recipes: every file loads and renders, and each required technique has one."""

from __future__ import annotations

from pathlib import Path

import pytest

from customization import nova
from customization.recipes import (
    RECIPES_DIR,
    Recipe,
    allowed_overrides,
    load_all,
    load_recipe,
    platforms_for,
    recipe_hash,
    render,
)

RECIPE_FILES = sorted(RECIPES_DIR.rglob("*.y*ml"))
REQUIRED_TECHNIQUES = {"sft_lora", "sft_full", "dpo_lora", "dpo_full", "ppo", "distillation", "cpt"}
PLATFORM_WORDS = {"SageMaker training jobs": "sagemaker-training-job", "HyperPod": "hyperpod", "Bedrock": "bedrock"}


def inputs_for(recipe: Recipe) -> dict[str, object]:
    """Overrides that fill every path the recipe leaves to the run."""
    candidates = {
        "train": "s3://example-bucket/data/train.jsonl",
        "output": "s3://example-bucket/output/",
    }
    return {name: value for name, value in candidates.items() if name in allowed_overrides(recipe)}


def relative(path: Path) -> str:
    return path.relative_to(RECIPES_DIR).as_posix()


def test_the_recipe_glob_finds_files():
    assert len(RECIPE_FILES) >= len(REQUIRED_TECHNIQUES)


@pytest.mark.parametrize("path", RECIPE_FILES, ids=relative)
def test_every_recipe_file_loads_and_renders_once_its_paths_are_set(path: Path):
    recipe = load_recipe(path)
    rendered = render(recipe, inputs_for(recipe))
    assert recipe.source == f"recipes/{relative(path)}"
    assert rendered["run"]["name"] == recipe.run.name
    assert len(recipe_hash(rendered)) == 64


@pytest.mark.parametrize("path", RECIPE_FILES, ids=relative)
def test_every_recipe_header_says_what_it_is_for_its_data_and_where_it_runs(path: Path):
    header = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    text = " ".join(line.lstrip("# ") for line in header)
    assert len(header) >= 3, "a recipe starts with a comment saying what it is for"
    assert "Data:" in text
    runs_on = text.split("Runs on:")[1].split(".")[0]
    named = {platform for words, platform in PLATFORM_WORDS.items() if words in runs_on}
    assert named == set(platforms_for(load_recipe(path).technique))


def test_each_required_technique_has_a_recipe(recipes: dict[str, Recipe]):
    techniques = {recipe.technique for recipe in recipes.values()}
    assert not REQUIRED_TECHNIQUES - techniques


def test_recipes_are_named_by_folder_and_file(recipes: dict[str, Recipe]):
    assert "training/sft_lora" in recipes
    assert list(recipes) == sorted(recipes)


def test_only_training_recipes_are_committed_as_nothing_runs_evaluation_recipes():
    assert sorted(path.name for path in RECIPES_DIR.iterdir() if path.is_dir()) == ["training"]


def test_fine_tuning_recipes_train_nova_lite_with_the_adapter_their_name_says(recipes: dict[str, Recipe]):
    for name in ("sft_lora", "sft_full", "dpo_lora", "dpo_full"):
        recipe = recipes[f"training/{name}"]
        assert recipe.run.model_type == "amazon.nova-lite-v1:0:300k"
        scheme = recipe.training_config.model.peft.peft_scheme
        assert scheme == ("lora" if name.endswith("_lora") else None), name


def test_ppo_recipe_has_every_role_and_its_replica_count(recipes: dict[str, Recipe]):
    ppo = recipes["training/ppo"].document
    run = ppo.run
    assert (
        run.actor_train_replicas,
        run.actor_generation_replicas,
        run.rm_replicas,
        run.cm_replicas,
        run.am_replicas,
    ) == (
        2,
        2,
        1,
        1,
        1,
    )
    assert ppo.ppo_reward.trainer.num_nodes == "${recipes.run.rm_replicas}"


def test_distillation_recipe_names_teacher_student_and_response_length(recipes: dict[str, Recipe]):
    recipe = recipes["training/distillation"]
    assert recipe.training_config.teacher_model_id == "us.amazon.nova-pro-v1:0"
    assert recipe.run.model_type == "amazon.nova-lite-v1:0:300k"
    assert recipe.training_config.max_response_length > 0


# The public Nova 1 Lite CPT recipe's keys and defaults (aws/sagemaker-hyperpod-recipes commit 263199555b2e,
# recipes_collection/recipes/training/nova/nova_1_0/nova_lite/CPT/nova_lite_1_0_p5x16_gpu_pretrain.yaml); the
# paths and names are this platform's.
PUBLIC_NOVA_LITE_CPT = {
    "run": {
        "name": "my-cpt-run",
        "model_type": "amazon.nova-lite-v1:0:300k",
        "model_name_or_path": "nova-lite/prod",
        "replicas": 16,
        "data_s3_path": "",
        "output_s3_path": "",
        "mlflow_tracking_uri": "",
        "mlflow_experiment_name": "my-cpt-experiment",
        "mlflow_run_name": "my-cpt-run",
    },
    "training_config": {
        "max_length": 8192,
        "global_batch_size": 256,
        "trainer": {"max_epochs": 1},
        "model": {
            "hidden_dropout": 0.0,
            "attention_dropout": 0.0,
            "ffn_dropout": 0.0,
            "optim": {
                "lr": 1e-5,
                "name": "distributed_fused_adam",
                "adam_w_mode": True,
                "eps": 1e-06,
                "weight_decay": 0.0,
                "betas": [0.9, 0.999],
                "sched": {"warmup_steps": 10, "constant_steps": 0, "min_lr": 1e-6},
            },
        },
    },
}
NAMES = ("name", "mlflow_experiment_name", "mlflow_run_name")


def test_cpt_recipe_is_the_public_nova_lite_cpt_recipe_key_for_key(raw):
    committed = raw("training/cpt")
    public = {**PUBLIC_NOVA_LITE_CPT, "run": dict(PUBLIC_NOVA_LITE_CPT["run"])}
    for name in NAMES:
        public["run"][name] = committed["run"][name]

    assert committed == public


@pytest.mark.parametrize("name", sorted(REQUIRED_TECHNIQUES - {"distillation"}))
def test_training_recipes_name_their_mlflow_experiment_and_run(raw, name: str):
    run = raw(f"training/{name}")["run"]
    assert run["mlflow_experiment_name"] == run["mlflow_run_name"] == run["name"]
    assert run["mlflow_tracking_uri"] == ""


@pytest.mark.parametrize("name", ["sft_lora", "sft_full", "dpo_lora", "dpo_full", "cpt"])
def test_each_recipe_header_names_the_public_recipe_whose_values_the_loader_enforces(recipes, name: str):
    public = nova.PUBLIC_RECIPES[name][recipes[f"training/{name}"].run.model_type]
    header = [line for line in (RECIPES_DIR / "training" / f"{name}.yaml").read_text().splitlines() if line[:1] == "#"]
    assert any(public.file in line for line in header)


def test_readme_lists_every_recipe_file():
    readme = (RECIPES_DIR / "README.md").read_text(encoding="utf-8")
    missing = [relative(path) for path in RECIPE_FILES if f"`{relative(path)}`" not in readme]
    assert not missing, f"recipes/README.md does not list {missing}"


def test_load_all_returns_frozen_recipes(recipes: dict[str, Recipe]):
    with pytest.raises(AttributeError):
        recipes["training/sft_lora"].run.replicas = 8  # type: ignore[misc]
    assert load_all() == recipes
