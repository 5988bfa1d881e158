"""The example run inputs under examples/ pass the workflow's first state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from customization_steps.request import Limits, check_request

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
