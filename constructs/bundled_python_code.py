"""Lambda code assembled from several folders of this repository, without Docker.

A workflow handler needs the shared recipe loader (``customization/``), the recipes
themselves and PyYAML next to its own package. ``cdk.ILocalBundling`` copies them into the
asset at synth time (no container, no network); the asset hash is taken from that output,
so a change to any copied file changes the deployed code.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

REPO = Path(__file__).resolve().parent.parent
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.dist-info", "tests")
# Never pulled: local bundling always succeeds, but BundlingOptions requires an image.
UNUSED_IMAGE = cdk.DockerImage.from_registry("public.ecr.aws/sam/build-python3.13")


@jsii.implements(cdk.ILocalBundling)
class _CopyFolders:
    def __init__(self, folders: Mapping[str, Path]) -> None:
        self.folders = dict(sorted(folders.items()))

    def try_bundle(self, output_dir: str, *_options: Any, **_keywords: Any) -> bool:
        # jsii passes the options positionally, the typed protocol names them: accept both.
        for name, source in self.folders.items():
            shutil.copytree(source, Path(output_dir) / name, ignore=IGNORED, dirs_exist_ok=True)
        return True


def pure_python_package(module: Any) -> Path:
    """The installed folder of a pure-Python package (its C speedups are left out by ``IGNORED``)."""
    return Path(module.__file__).resolve().parent


def bundled_python_code(handler_root: Path, extra: Mapping[str, Path]) -> lambda_.Code:
    """``handler_root``'s packages plus ``extra`` (name in the asset -> folder), as one code asset."""
    folders = {path.name: path for path in handler_root.iterdir() if path.is_dir() and path.name != "__pycache__"}
    folders.update(extra)
    return lambda_.Code.from_asset(
        str(handler_root),
        asset_hash_type=cdk.AssetHashType.OUTPUT,
        bundling=cdk.BundlingOptions(image=UNUSED_IMAGE, local=_CopyFolders(folders)),
    )
