"""The example run inputs under examples/ pass the workflow's first state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from customization_steps.request import InvalidRunRequestError, Limits, check_request

from config.loader import load_environments
from customization.nova import TRAINING_TECHNIQUES
from customization.recipes import load_all

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LIMITS = Limits(
    datasets_bucket="dev-datasets-bucket",
    artifacts_bucket="dev-artifacts-bucket",
    platforms=("sagemaker-training-job", "bedrock", "hyperpod"),
    # An environment whose restricted instance group can hold CPT's 16 nodes, in a region with Nova images.
    region="us-east-1",
    hyperpod_max_nodes=16,
)
RECIPES = load_all()
ENVIRONMENTS = {env.name: env for env in load_environments()}


def example(path: Path) -> dict:
    return json.loads(path.read_text().replace("DATASETS_BUCKET", LIMITS.datasets_bucket))


def test_every_technique_has_an_example():
    techniques = {example(path)["technique"] for path in EXAMPLES.glob("*.json")}
    assert techniques == {*TRAINING_TECHNIQUES, "import"}  # and an open-weight import


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_example_passes_validation(path):
    data = example(path)
    request = check_request(data, recipes=RECIPES, limits=LIMITS, execution_name=path.stem.replace("_", "-"))
    assert request.technique == data["technique"] and request.platform == data.get("platform", "bedrock")


# What each committed environment says to the HyperPod-only examples (PPO needs 7 nodes, the CPT recipe 16):
# dev is Slurm-orchestrated (no restricted instance group), staging's group has 1 node and prod's 2.
HYPERPOD_ONLY_VERDICTS = {
    ("dev", "ppo"): "platform: 'hyperpod' is not allowed; expected a platform for ppo here: none",
    ("dev", "cpt"): "platform: 'hyperpod' is not allowed; expected a platform for cpt here: none",
    ("staging", "ppo"): "recipe: 7 is not allowed; expected at most 1 nodes in all",
    ("staging", "cpt"): "overrides.replicas: 16 is not allowed; expected at most 1 nodes in all",
    ("prod", "ppo"): "recipe: 7 is not allowed; expected at most 2 nodes in all",
    ("prod", "cpt"): "overrides.replicas: 16 is not allowed; expected at most 2 nodes in all",
}


def committed_limits(name: str) -> Limits:
    """What the Workflow stack tells Validate in a committed environment (deployed to us-east-1)."""
    config = ENVIRONMENTS[name]
    rig = config.cluster.restricted_instance_group if config.cluster else None
    wired = rig is not None and config.cluster is not None and config.cluster.orchestrator == "eks"
    return Limits(
        datasets_bucket=LIMITS.datasets_bucket,
        artifacts_bucket=LIMITS.artifacts_bucket,
        platforms=("sagemaker-training-job", "bedrock", *(("hyperpod",) if wired else ())),
        region="us-east-1",
        hyperpod_max_nodes=rig.count if wired and rig is not None else 0,
    )


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_what_each_committed_environment_says_to_each_example(environment, path):
    data = example(path)
    verdict = HYPERPOD_ONLY_VERDICTS.get((environment, data["technique"]))
    if verdict is None:
        request = check_request(data, recipes=RECIPES, limits=committed_limits(environment), execution_name="e-1")
        assert request.technique == data["technique"]
        return
    with pytest.raises(InvalidRunRequestError) as rejected:
        check_request(data, recipes=RECIPES, limits=committed_limits(environment), execution_name="e-1")
    assert verdict in str(rejected.value)
