"""The environment config: the committed files load, and every rule rejects bad values with a clear message."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.loader import ConfigError, load_environment, load_environments, parse_environment

VALID: dict[str, Any] = {
    "name": "qa",
    "removal_policy": "retain",
    "tags": {"environment": "qa", "owner": "ml-platform", "cost_center": "ml-1"},
    "network": {"cidr": "10.60.0.0/16", "az_count": 2, "nat_gateways": 1},
    "data": {"lustre_storage_capacity_gib": 1200, "lustre_throughput_mbps_per_tib": 125},
}


def with_change(path: str, value: object) -> dict[str, Any]:
    """VALID with one dotted key set (``None`` deletes it)."""
    raw = copy.deepcopy(VALID)
    *parents, leaf = path.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return raw


def error_for(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_environment(raw, "qa", "environments/qa.yaml")
    return str(caught.value)


def test_committed_environments_load_in_name_order():
    names = [env.name for env in load_environments()]
    assert names == ["dev", "prod", "staging"]


def test_only_dev_is_throwaway():
    throwaway = {env.name: env.is_throwaway for env in load_environments()}
    assert throwaway == {"dev": True, "prod": False, "staging": False}


def test_valid_config_parses_into_frozen_objects():
    config = parse_environment(VALID, "qa", "environments/qa.yaml")
    assert config.network.az_count == 2
    assert config.tags.as_aws_tags() == {"environment": "qa", "owner": "ml-platform", "cost-center": "ml-1"}
    with pytest.raises(AttributeError):
        config.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("removal_policy", "keep", "removal_policy: 'keep' is not allowed; expected one of 'destroy', 'retain'"),
        ("account", "12345", "account: '12345' is not allowed; expected a 12-digit AWS account id"),
        ("account", 123456789012, "account: 123456789012 is not allowed; expected a string"),
        ("region", "Europe", "region: 'Europe' is not allowed; expected an AWS region name"),
        ("name", "Qa", "name: 'Qa' is not allowed; expected the file's name, 'qa'"),
        ("tags.environment", "prod", "tags.environment: 'prod' is not allowed; expected the environment's name"),
        ("tags.owner", " ", "tags.owner: ' ' is not allowed; expected a non-empty string"),
        ("tags.cost_center", None, "tags.cost_center: missing; expected a value (this key is required)"),
        ("network.mode", "shared", "network.mode: 'shared' is not allowed; expected one of 'new', 'existing'"),
        ("network.cidr", "10.0.0.0/8", "network.cidr: '10.0.0.0/8' is not allowed; expected an IPv4 block from /16"),
        ("network.cidr", "ten", "network.cidr: 'ten' is not allowed; expected an IPv4 network"),
        ("network.az_count", 1, "network.az_count: 1 is not allowed; expected an integer from 2 to 6"),
        ("network.az_count", "2", "network.az_count: '2' is not allowed; expected an integer"),
        ("network.nat_gateways", 3, "network.nat_gateways: 3 is not allowed; expected from 1 to az_count (2)"),
        ("network.flow_log_retention_days", 10, "network.flow_log_retention_days: 10 is not allowed; expected one of"),
        ("network.interface_endpoints", "yes", "network.interface_endpoints: 'yes' is not allowed; expected true"),
        (
            "network.vpc_id",
            "vpc-0123456789abcdef0",
            "network.vpc_id: 'vpc-0123456789abcdef0' is not allowed; expected absent",
        ),
        (
            "network.availability_zones",
            ["us-east-1a", "us-east-1b"],
            "network.availability_zones: ['us-east-1a', 'us-east-1b'] is not allowed; "
            "expected empty when mode is 'new'",
        ),
        (
            "data.lustre_storage_capacity_gib",
            2000,
            "data.lustre_storage_capacity_gib: 2000 is not allowed; expected 1200 or a multiple of 2400",
        ),
        (
            "data.lustre_throughput_mbps_per_tib",
            200,
            "data.lustre_throughput_mbps_per_tib: 200 is not allowed; expected one of 125, 250, 500, 1000",
        ),
        ("data.lustre_datasets_path", "/", "data.lustre_datasets_path: '/' is not allowed; expected an absolute path"),
        ("data.noncurrent_version_expiration_days", 0, "data.noncurrent_version_expiration_days: 0 is not allowed"),
        ("data.access_log_expiration_days", -1, "data.access_log_expiration_days: -1 is not allowed; expected 1 or"),
        ("data.incomplete_upload_expiration_days", True, "expected an integer"),
    ],
)
def test_bad_value_is_rejected_with_key_value_and_allowed(key: str, value: object, expected: str):
    message = error_for(with_change(key, value))
    assert "environments/qa.yaml" in message
    assert expected in message


def test_unknown_key_is_named_with_the_known_keys():
    message = error_for(with_change("network.cidr_block", "10.0.0.0/16"))
    assert "network.cidr_block: 'cidr_block' is not allowed; expected one of mode, cidr, az_count" in message


def test_account_without_region_is_rejected():
    message = error_for(with_change("account", "123456789012"))
    assert "account/region: ('123456789012', None) is not allowed; expected both set, or both absent" in message


EXISTING_VPC = {
    "mode": "existing",
    "cidr": "10.0.0.0/16",
    "vpc_id": "vpc-0123456789abcdef0",
    "private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    "private_route_table_ids": ["rtb-0123456789abcdef0", "rtb-0123456789abcdef1"],
    "availability_zones": ["eu-west-1a", "eu-west-1b"],
}


def test_existing_vpc_described_by_ids_parses():
    raw = with_change("network", dict(EXISTING_VPC))
    raw.update(account="123456789012", region="eu-west-1")
    config = parse_environment(raw, "qa", "environments/qa.yaml")
    assert config.network.private_subnet_ids == ("subnet-0123456789abcdef0", "subnet-0123456789abcdef1")


def test_zones_must_belong_to_the_region():
    raw = with_change("network", {**EXISTING_VPC, "availability_zones": ["eu-west-1a", "us-east-1b"]})
    raw.update(account="123456789012", region="eu-west-1")
    assert "network.availability_zones: ['us-east-1b'] is not allowed; expected zones of the region eu-west-1" in (
        error_for(raw)
    )


def test_existing_vpc_needs_ids_for_every_subnet():
    raw = with_change("network", {"mode": "existing", "cidr": "10.0.0.0/16", "private_subnet_ids": ["subnet-1"]})
    message = error_for(raw)
    assert "network.vpc_id: null is not allowed; expected a VPC id" in message
    assert "network.private_subnet_ids: ['subnet-1'] is not allowed; expected at least 2 subnet ids" in message
    assert "network.private_subnet_ids: 'subnet-1' is not allowed; expected a subnet id" in message
    assert "network.private_route_table_ids: [] is not allowed; expected one per private subnet (1)" in message


def test_every_problem_is_reported_at_once():
    raw = with_change("network.az_count", 9)
    raw["data"]["lustre_throughput_mbps_per_tib"] = 1
    problems = {p.key for p in _problems(raw)}
    assert {"network.az_count", "data.lustre_throughput_mbps_per_tib"} <= problems


def _problems(raw: dict[str, Any]) -> tuple:
    with pytest.raises(ConfigError) as caught:
        parse_environment(raw, "qa", "environments/qa.yaml")
    return caught.value.problems


def test_file_that_is_not_a_mapping_is_rejected(tmp_path: Path):
    path = tmp_path / "qa.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match=r"\(file\): \['just', 'a list'\] is not allowed; expected a mapping"):
        load_environment(path)


def test_invalid_yaml_is_rejected_with_the_file_name(tmp_path: Path):
    path = tmp_path / "qa.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(
        ConfigError, match=r"invalid environment config .*qa.yaml:\n  - \(file\): .* expected valid YAML"
    ):
        load_environment(path)


def test_selecting_an_unknown_environment_names_the_known_ones(tmp_path: Path):
    (tmp_path / "qa.yaml").write_text(yaml.safe_dump(VALID))
    with pytest.raises(ConfigError, match=r"environments: \['uat'\] is not allowed; expected names from qa"):
        load_environments(tmp_path, only=["uat"])


def test_empty_config_folder_is_rejected(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"expected at least one <name>\.yaml file"):
        load_environments(tmp_path)


def test_bad_workflow_values_are_named():
    from config.loader import ConfigError, parse_environment

    raw = {
        "name": "qa",
        "tags": {"environment": "qa", "owner": "o", "cost_center": "c"},
        "workflow": {
            "training_instance_type": "ml.nope.xlarge",
            "max_training_hours": 0,
            "judge_model_id": "not a model",
            "notification_email": "nobody",
        },
    }
    with pytest.raises(ConfigError) as caught:
        parse_environment(raw, "qa", "environments/qa.yaml")
    message = str(caught.value)
    assert "workflow.training_instance_type: 'ml.nope.xlarge' is not allowed; expected a SageMaker training" in message
    assert "workflow.max_training_hours: 0 is not allowed; expected from 1 to 672 (28 days)" in message
    assert "workflow.judge_model_id: 'not a model' is not allowed; expected a Bedrock model or profile id" in message
    assert "workflow.notification_email: 'nobody' is not allowed; expected an email address" in message


@pytest.mark.parametrize(
    ("judge", "refused"), [("amazon.nova-2-lite-v1:0", True), ("us.amazon.nova-2-lite-v1:0", False)]
)
def test_a_judge_served_only_through_a_profile_is_named_by_its_profile(judge, refused):
    from config.loader import ConfigError, parse_environment

    raw = {"name": "qa", "tags": {"environment": "qa", "owner": "o", "cost_center": "c"}, "workflow": {}}
    raw["workflow"]["judge_model_id"] = judge
    if not refused:
        assert parse_environment(raw, "qa", "environments/qa.yaml").workflow.judge_model_id == judge
        return
    with pytest.raises(ConfigError, match=r"workflow.judge_model_id: .* expected its profile id, prefixed us\.: "):
        parse_environment(raw, "qa", "environments/qa.yaml")


def test_the_workflow_buys_no_serving_throughput_so_its_units_are_refused_by_name():
    """The Serving stack serves approved models; a leftover key from before says so rather than being ignored."""
    from config.loader import ConfigError, parse_environment

    raw = {
        "name": "qa",
        "tags": {"environment": "qa", "owner": "o", "cost_center": "c"},
        "workflow": {"provisioned_model_units": 1},
    }
    with pytest.raises(ConfigError, match="provisioned_model_units"):
        parse_environment(raw, "qa", "environments/qa.yaml")


@pytest.mark.parametrize("path", ["config/rubrics/missing.md", "README.md", "config/rubrics/../../README.md"])
def test_a_rubric_file_must_be_one_in_config_rubrics(path):
    from config.loader import ConfigError, parse_environment

    raw = {"name": "qa", "tags": {"environment": "qa", "owner": "o", "cost_center": "c"}}
    raw["workflow"] = {"judge_rubric_file": path}
    with pytest.raises(
        ConfigError, match=r"workflow\.judge_rubric_file: .* is not allowed; expected a file in config/rubrics/"
    ):
        parse_environment(raw, "qa", "environments/qa.yaml")


def test_the_default_rubric_is_read_and_hashed():
    from config.workflow import WorkflowConfig

    workflow = WorkflowConfig()
    assert workflow.judge_rubric.startswith("Score the answer from 1")
    assert len(workflow.judge_rubric_sha256) == 64


def test_bad_evaluation_values_are_named():
    from config.loader import ConfigError, parse_environment

    raw = {
        "name": "qa",
        "tags": {"environment": "qa", "owner": "o", "cost_center": "c"},
        "workflow": {
            "evaluation": {"max_concurrency": 0, "batch_size": 30, "min_records": 0, "min_scored_fraction": 0.2}
        },
    }
    with pytest.raises(ConfigError) as caught:
        parse_environment(raw, "qa", "environments/qa.yaml")
    message = str(caught.value)
    assert "workflow.evaluation.max_concurrency: 0 is not allowed; expected from 1 to 200" in message
    assert "workflow.evaluation.batch_size: 30 is not allowed; expected from 1 to 20" in message
    assert "workflow.evaluation.min_records: 0 is not allowed; expected from 1 to max_records" in message
    assert "workflow.evaluation.min_scored_fraction: 0.2 is not allowed; expected from 0.5 to 1" in message


def test_a_cross_region_profile_must_belong_to_the_environments_geography():
    from config.loader import ConfigError, parse_environment

    raw = {
        "name": "qa",
        "account": "111111111111",
        "region": "eu-west-1",
        "tags": {"environment": "qa", "owner": "o", "cost_center": "c"},
        "workflow": {"inference_profile_prefix": "us.", "judge_model_id": "us.amazon.nova-pro-v1:0"},
    }
    with pytest.raises(ConfigError) as caught:
        parse_environment(raw, "qa", "environments/qa.yaml")
    message = str(caught.value)
    assert "workflow.inference_profile_prefix: 'us.' is not allowed; expected a eu. profile in eu-west-1" in message
    assert "workflow.judge_model_id: 'us.amazon.nova-pro-v1:0' is not allowed; expected a eu. profile" in message

    raw["workflow"] = {"inference_profile_prefix": "eu.", "judge_model_id": "eu.amazon.nova-pro-v1:0"}
    assert parse_environment(raw, "qa", "environments/qa.yaml").workflow is not None


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        (
            {"training_availability_zone_id": "use1-az6"},
            "network.training_subnet_cidr: null is not allowed; expected both training_availability_zone_id and",
        ),
        (
            {"training_availability_zone_id": "us-east-1a", "training_subnet_cidr": "10.60.224.0/20"},
            "network.training_availability_zone_id: 'us-east-1a' is not allowed; expected an AZ ID such as use1-az6",
        ),
        (
            {"training_availability_zone_id": "use1-az6", "training_subnet_cidr": "10.61.0.0/20"},
            "network.training_subnet_cidr: '10.61.0.0/20' is not allowed; expected a /16 to /24 block inside",
        ),
        (
            {"training_subnet_id": "subnet-0123456789abcdef9"},
            "network.training_subnet_id: 'subnet-0123456789abcdef9' is not allowed; expected absent when mode is 'new'",
        ),
    ],
)
def test_a_training_zone_is_named_by_az_id_with_a_block_of_its_own(network: dict, expected: str):
    assert expected in error_for(with_change("network", {**VALID["network"], **network}))


def test_an_existing_vpc_trains_in_one_of_its_own_private_subnets():
    raw = with_change("network", {**EXISTING_VPC, "training_subnet_id": "subnet-0123456789abcdef9"})
    assert "network.training_subnet_id: 'subnet-0123456789abcdef9' is not allowed; expected one of network.private" in (
        error_for(raw)
    )
    raw = with_change("network", {**EXISTING_VPC, "training_availability_zone_id": "euw1-az1"})
    assert (
        "network.training_availability_zone_id: 'euw1-az1' is not allowed; expected absent when mode is 'existing'"
        in (error_for(raw))
    )


PLANNED_CLUSTER = {
    "orchestrator": "eks",
    "instance_groups": [
        {
            "name": "gpu",
            "instance_type": "ml.p5.48xlarge",
            "training_plan_arn": "arn:aws:sagemaker:us-east-1:123456789012:training-plan/p5-week",
        }
    ],
}


def test_a_training_plan_needs_the_zone_of_its_capacity_named():
    message = error_for(with_change("cluster", PLANNED_CLUSTER))
    assert (
        "cluster.instance_groups[0].training_plan_arn: 'a training plan' is not allowed; expected "
        "network.training_availability_zone_id (or training_subnet_id) set to the plan's zone"
    ) in message
    raw = with_change("cluster", PLANNED_CLUSTER)
    raw["network"].update(training_availability_zone_id="use1-az6", training_subnet_cidr="10.60.224.0/20")
    assert parse_environment(raw, "qa", "environments/qa.yaml").network.training_availability_zone_id == "use1-az6"


def test_a_training_plan_arn_must_be_one():
    cluster = copy.deepcopy(PLANNED_CLUSTER)
    cluster["instance_groups"][0]["training_plan_arn"] = "p5-week"
    assert (
        "cluster.instance_groups[0].training_plan_arn: 'p5-week' is not allowed; expected a SageMaker training plan"
        in (error_for(with_change("cluster", cluster)))
    )


VALID_YAML = """\
name: qa
removal_policy: retain
tags: {environment: qa, owner: ml-platform, cost_center: ml-1}
"""


def load_text(tmp_path: Path, text: str) -> str:
    path = tmp_path / "qa.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    return str(caught.value)


def test_a_key_given_twice_is_refused_with_both_lines_rather_than_the_last_kept(tmp_path: Path):
    message = load_text(tmp_path, VALID_YAML + "removal_policy: destroy\n")
    assert (
        "removal_policy: \"a second 'removal_policy' (line 4, column 1; the first at line 2, column 1)\" is not "
        "allowed; expected each key once"
    ) in message


@pytest.mark.parametrize("word", ["yes", "on", "No", "OFF"])
def test_yaml_1_1_booleans_are_refused_where_they_stand(tmp_path: Path, word: str):
    message = load_text(tmp_path, VALID_YAML + f"cluster:\n  orchestrator: eks\n  endpoint_public: {word}\n")
    assert f"cluster.endpoint_public: '{word} (line 6, column 20)' is not allowed; expected true or false" in message


def test_an_unquoted_account_with_a_leading_zero_is_refused_not_read_as_octal(tmp_path: Path):
    message = load_text(tmp_path, VALID_YAML + "account: 012345678901\nregion: eu-west-1\n")
    assert "account: '012345678901 (line 4, column 10)' is not allowed; expected the value in quotes" in message


def test_a_yaml_syntax_error_keeps_its_line_and_column(tmp_path: Path):
    message = load_text(tmp_path, VALID_YAML + "network: {cidr: 10.0.0.0/16\n")
    assert "\"expected ',' or '}', but got '<stream end>' (line 5, column 1)\" is not allowed; expected valid YAML" in (
        message
    )


def test_a_yml_file_beside_the_environments_is_refused_not_skipped(tmp_path: Path):
    (tmp_path / "qa.yaml").write_text(VALID_YAML)
    (tmp_path / "dev.yml").write_text(VALID_YAML)
    with pytest.raises(ConfigError, match=r"environments: \['dev.yml'\] is not allowed; expected <name>.yaml files"):
        load_environments(tmp_path)


def test_the_cli_prints_one_block_and_exits_2_without_a_traceback(tmp_path: Path):
    """What `cdk synth` runs: `python app.py`, with the CLI's context in CDK_CONTEXT_JSON."""
    import json
    import os
    import subprocess
    import sys

    (tmp_path / "qa.yaml").write_text(VALID_YAML + "removal_policy: destroy\n")
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"config_dir": str(tmp_path)}), "CDK_OUTDIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=repo, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid environment config ")
    assert "a second 'removal_policy'" in result.stderr and "Traceback" not in result.stderr


def test_a_rule_only_a_construct_checks_is_shown_the_same_way():
    """app.main turns a ValueError in the config error format into the same block and exit code."""
    from unittest import mock

    import app

    refusal = ValueError("network.training_subnet_cidr: '10.40.16.0/20' is not allowed; expected a block")
    with mock.patch.object(app, "build_app", side_effect=refusal), mock.patch("sys.stderr") as stderr:
        assert app.main() == 2
    written = "".join(call.args[0] for call in stderr.write.call_args_list)
    assert written.startswith("error: invalid environment config: network.training_subnet_cidr:")
    with mock.patch.object(app, "build_app", side_effect=ValueError("a fault")), pytest.raises(ValueError):
        app.main()


def test_a_training_zone_of_another_region_is_refused_when_the_region_is_pinned():
    raw = with_change(
        "network",
        {**VALID["network"], "training_availability_zone_id": "use1-az6", "training_subnet_cidr": "10.60.224.0/20"},
    )
    raw.update(account="123456789012", region="eu-west-1")
    assert (
        "network.training_availability_zone_id: 'use1-az6' is not allowed; expected a zone of eu-west-1 (euw1-az<n>)"
        in (error_for(raw))
    )


def test_deleting_data_takes_two_decisions_and_never_happens_in_a_protected_environment():
    message = error_for(with_change("removal_policy", "destroy"))
    assert (
        "removal_policy: 'destroy' is not allowed; expected retain, or destroy together with allow_data_deletion"
        in (message)
    )
    both = with_change("removal_policy", "destroy")
    both["allow_data_deletion"] = True
    assert parse_environment(both, "qa", "environments/qa.yaml").is_throwaway
    both["protected"] = True
    assert "removal_policy: 'destroy' is not allowed; expected retain in a protected environment" in error_for(both)


def test_staging_and_prod_are_protected_and_only_dev_may_delete_data():
    environments = {env.name: env for env in load_environments()}
    assert environments["prod"].protected and environments["staging"].protected
    assert [name for name, env in environments.items() if env.allow_data_deletion] == ["dev"]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            "network.cidr",
            "10.60.0.0/20",
            "network.cidr: '10.60.0.0/20' is not allowed; expected a block of at least 12288 addresses for 2 zones",
        ),
        ("network.cidr", "8.8.0.0/16", "network.cidr: '8.8.0.0/16' is not allowed; expected a private block"),
        ("region", "eu-middle-9", "region: 'eu-middle-9' is not allowed; expected a Region botocore knows"),
        (
            "tags.owner",
            "x" * 6000,
            "tags.owner: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... (6000 characters)' is not allowed; expected at "
            "most 256",
        ),
    ],
)
def test_values_aws_would_refuse_later_are_refused_naming_the_key(path: str, value: object, expected: str):
    raw = with_change(path, value)
    if path == "region":
        raw["account"] = "123456789012"
    assert expected in error_for(raw)


def test_two_environments_with_overlapping_blocks_are_refused(tmp_path: Path):
    for name, cidr in (("qa", "10.60.0.0/16"), ("uat", "10.60.128.0/17")):
        raw = {**copy.deepcopy(VALID), "name": name, "network": {**VALID["network"], "cidr": cidr}}
        raw["tags"]["environment"] = name
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"uat: network.cidr: '10.60.128.0/17' is not allowed; expected a block that"):
        load_environments(tmp_path)


def test_an_embedding_model_is_refused_as_the_served_model():
    raw = with_change("serving", {"base_model_id": "amazon.titan-embed-text-v2:0"})
    assert "serving.base_model_id: 'amazon.titan-embed-text-v2:0' is not allowed; expected a text-generation model" in (
        error_for(raw)
    )


def test_the_datasets_path_stays_out_of_the_output_path():
    assert "data.lustre_datasets_path: '/output/data' is not allowed; expected a path outside /output" in error_for(
        with_change("data.lustre_datasets_path", "/output/data")
    )


def test_environments_in_one_account_must_say_so_whatever_their_bootstraps(tmp_path: Path):
    def write(name: str, **extra: object) -> None:
        raw = {**copy.deepcopy(VALID), "name": name, **extra}
        raw["tags"]["environment"] = name
        raw["network"] = {**VALID["network"], "cidr": {"qa": "10.60.0.0/16", "uat": "10.61.0.0/16"}[name]}
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(raw))

    write("qa")
    write("uat")
    with pytest.raises(
        ConfigError, match=r"qa: shares_account_with: \[\] is not allowed; expected a list naming 'uat'"
    ):
        load_environments(tmp_path)
    write("qa", shares_account_with=["uat"])
    write("uat", shares_account_with=["qa"])
    assert len(load_environments(tmp_path)) == 2
    write("qa")
    write("uat", bootstrap_qualifier="uat")  # another bootstrap in the same account is not isolation
    with pytest.raises(
        ConfigError, match=r"qa: shares_account_with: \[\] is not allowed; expected a list naming 'uat'"
    ):
        load_environments(tmp_path)
    write("uat", account="210987654321", region="eu-west-1")  # an account of its own
    assert len(load_environments(tmp_path)) == 2


def test_merge_keys_and_the_words_y_and_n_load_as_pyyaml_reads_them():
    from config import strict_yaml

    data, refused = strict_yaml.load("base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\nflag: y\n")
    assert refused == []
    assert data == {"base": {"x": 1, "y": 2}, "derived": {"x": 1, "y": 3}, "flag": "y"}


def test_a_tag_value_with_a_tab_or_a_newline_is_refused():
    for value in ("ml\tplatform", "ml\nplatform"):
        assert "tags.owner: " in error_for(with_change("tags.owner", value))
    accepted = parse_environment(with_change("tags.owner", "ML Platform-ä"), "qa", "environments/qa.yaml")
    assert accepted.tags.owner == "ML Platform-ä"  # spaces and Unicode letters are allowed
