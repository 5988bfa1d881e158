"""The code asset the construct bundles for the steps functions imports and runs on its own.

The asset is assembled by ``constructs/bundled_python_code.py`` (no Docker); this test takes the
very bundling the construct configures, runs its local copy into a temporary folder and starts a
fresh interpreter that sees only that folder, the standard library and what Lambda itself
provides (the Python runtime's boto3 and the Powertools layer). A module the bundle forgets, or
PyYAML's C extension, shows up here rather than on the first deployed run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from constructs import bundled_python_code as bundling
from constructs import workflow_steps as workflow
from customization.recipes import load_all

# What Lambda adds to sys.path besides the asset: the python3.13 runtime ships boto3 and its
# dependencies; the Powertools layer brings aws_lambda_powertools with X-Ray's SDK.
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
POWERTOOLS_LAYER_MODULES = ("aws_lambda_powertools", "typing_extensions", "aws_xray_sdk", "wrapt")

PROBE = """
import json, sys
import customization.recipes, customization_steps.steps as steps, yaml
import customization_steps.hyperpod_steps as hyperpod_steps, eks_access.api

class Context:
    function_name = "validate"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:validate"
    aws_request_id = "00000000-0000-4000-8000-000000000000"

state = steps.validate(json.loads(sys.argv[1]), Context())
print(json.dumps({
    "recipes": sorted(steps.recipes()),
    "recipes_dir": str(customization.recipes.RECIPES_DIR),
    "yaml": yaml.__file__,
    "libyaml": yaml.__with_libyaml__,
    "steps": steps.__file__,
    "hyperpod_steps": hyperpod_steps.__file__,
    "eks_access": eks_access.api.__file__,
    "site": "site" in sys.modules,
    "state": state,
}))
"""


def construct_bundling(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The ``Code.from_asset`` arguments the construct's ``steps_code`` passes, captured."""
    captured: dict[str, Any] = {}

    def from_asset(path: str, **options: Any) -> str:
        captured.update(options, path=path)
        return "code"

    monkeypatch.setattr(bundling.lambda_.Code, "from_asset", from_asset)
    assert workflow.steps_code() == "code"
    return captured


def lambda_runtime(folder: Path) -> Path:
    """A folder of links to the runtime's and the layer's packages, as Lambda's sys.path offers them."""
    folder.mkdir()
    for name in RUNTIME_MODULES + POWERTOOLS_LAYER_MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, f"{name} is not installed in the venv"
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (folder / source.name).symlink_to(source)
    return folder


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        options = construct_bundling(monkeypatch)
    asset = tmp_path_factory.mktemp("asset")
    assert options["bundling"].local.try_bundle(str(asset)) is True
    return {"options": options, "asset": asset, "runtime": lambda_runtime(tmp_path_factory.mktemp("lambda") / "rt")}


def run_probe(bundle: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    asset, runtime = bundle["asset"], bundle["runtime"]
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": f"{asset}{os.pathsep}{runtime}",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_SERVICE_NAME": "bundle-probe",
        "DATASETS_BUCKET": "acme-datasets",
        "ARTIFACTS_BUCKET": "acme-artifacts",
        "PLATFORMS": "sagemaker-training-job,bedrock",
        "RUNS_TABLE": "acme-runs",
        "KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
        "ENVIRONMENT": "dev",
    }
    result = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, json.dumps(event)],
        cwd=asset,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_the_construct_bundles_the_steps_the_recipe_loader_the_recipes_and_pyyaml(bundle):
    options, asset = bundle["options"], bundle["asset"]

    assert options["path"] == str(workflow.STEPS_ROOT)
    assert options["asset_hash_type"] == bundling.cdk.AssetHashType.OUTPUT
    assert sorted(path.name for path in asset.iterdir()) == [
        "customization",
        "customization_steps",
        "eks_access",
        "recipes",
        "yaml",
    ]
    assert sorted(path.name for path in (asset / "recipes").iterdir()) == ["README.md", "training"]


def test_the_bundle_holds_no_compiled_or_cached_files(bundle):
    leftovers = [
        path.relative_to(bundle["asset"]).as_posix()
        for path in bundle["asset"].rglob("*")
        if path.suffix in {".so", ".pyc"} or path.name in {"__pycache__", "tests"} or path.name.endswith(".dist-info")
    ]

    assert leftovers == []


def test_the_bundled_handler_loads_every_recipe_and_validates_an_input_on_its_own(bundle):
    event = {
        "execution": "exec-1",
        "input": {
            "technique": "sft_lora",
            "base_model": "amazon.nova-lite-v1:0:300k",
            "platform": "bedrock",
            "training_data": "s3://acme-datasets/sets/train.jsonl",
            "evaluation_dataset": "s3://acme-datasets/sets/eval.jsonl",
        },
    }

    probe = run_probe(bundle, event)

    asset = str(bundle["asset"])
    assert probe["recipes"] == sorted(load_all())  # every recipe in the repository, read from the asset
    assert len(probe["recipes"]) == 7
    assert probe["recipes_dir"] == os.path.join(asset, "recipes")
    assert probe["yaml"].startswith(asset + os.sep)
    assert probe["libyaml"] is False  # the pure-Python PyYAML: its C extension is not in the asset
    assert probe["steps"].startswith(asset + os.sep)
    assert probe["hyperpod_steps"].startswith(asset + os.sep)  # the HyperPod step and its Kubernetes client load too
    assert probe["eks_access"].startswith(asset + os.sep)
    assert probe["site"] is False  # no site-packages: nothing outside the asset and Lambda's own packages
    assert probe["state"]["run_name"] == "exec-1"
    assert probe["state"]["recipe"] == "training/sft_lora"
