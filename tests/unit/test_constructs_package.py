"""constructs/ has no __init__.py: the library's package must stay the library's, with our modules merged in."""

from __future__ import annotations

import importlib
from pathlib import Path

import constructs

REPO = Path(__file__).resolve().parents[2]


def test_construct_base_class_still_comes_from_the_installed_library():
    assert "site-packages" in constructs.Construct.__module__ or "site-packages" in (
        importlib.import_module(constructs.Construct.__module__).__file__ or ""
    )


def test_project_constructs_load_from_the_repo_folder():
    module = importlib.import_module("constructs.training_network")
    assert Path(module.__file__ or "").parent == REPO / "constructs"


def test_constructs_folder_has_no_init_file():
    assert not (REPO / "constructs" / "__init__.py").exists()


def test_the_recipe_vocabulary_and_the_workflow_contract_name_the_same_platforms():
    """``customization.nova`` types recipes with Literals (mypy needs literal strings); they must match the contract."""
    import typing

    from customization import contract, nova

    assert set(typing.get_args(nova.Platform)) == set(contract.PLATFORMS)
    assert set(nova.PLATFORMS) == set(nova.TRAINING_TECHNIQUES)
    assert contract.IMPORT not in typing.get_args(nova.Technique)


def test_every_training_instance_type_with_local_storage_gets_no_volume_key():
    """CreateTrainingJob refuses a VolumeKmsKeyId on instance types with NVMe instance store."""
    from config.workflow import training_instance_types
    from constructs.workflow_training import has_local_storage

    types = training_instance_types()
    local = {t for t in types if has_local_storage(t)}
    assert {"ml.p5.48xlarge", "ml.p4d.24xlarge", "ml.g5.xlarge", "ml.trn1.32xlarge", "ml.p6-b200.48xlarge"} <= local
    assert not {"ml.p3.16xlarge", "ml.m5.xlarge", "ml.c5.xlarge"} & local
