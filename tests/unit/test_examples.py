"""The example run inputs under examples/ pass the workflow's first state, or fail it for the stated reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from customization_steps.request import InvalidRunRequestError, Limits, check_request

from customization.nova import PLATFORMS, TRAINING_TECHNIQUES
from customization.recipes import load_all

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LIMITS = Limits(
    datasets_bucket="dev-datasets-bucket",
    artifacts_bucket="dev-artifacts-bucket",
    platforms=("sagemaker-training-job", "bedrock"),
)
RECIPES = load_all()


def example(path: Path) -> dict:
    return json.loads(path.read_text().replace("DATASETS_BUCKET", LIMITS.datasets_bucket))


def test_every_technique_has_an_example():
    assert {example(path)["technique"] for path in EXAMPLES.glob("*.json")} == set(TRAINING_TECHNIQUES)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_example_passes_validation_where_its_platform_is_wired(path):
    data = example(path)
    if data["platform"] not in LIMITS.platforms:
        # PPO and CPT run on HyperPod only (see PLATFORMS); this workflow does not submit HyperPod jobs yet.
        assert PLATFORMS[data["technique"]] == ("hyperpod",)
        with pytest.raises(
            InvalidRunRequestError,
            match=f"platform: 'hyperpod' is not allowed; expected a platform for {data['technique']} here: none",
        ):
            check_request(data, recipes=RECIPES, limits=LIMITS, execution_name=path.stem)
        return
    request = check_request(data, recipes=RECIPES, limits=LIMITS, execution_name=path.stem.replace("_", "-"))
    assert request.technique == data["technique"] and request.platform == data["platform"]
