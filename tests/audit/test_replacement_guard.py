"""The replacement guard: a renamed bucket, a moved or re-keyed file system and a renamed HyperPod cluster are caught
against a base, pass once acknowledged, and an acknowledgement of nothing is reported as stale."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from auditing.assembly import AssemblyStack, Environment
from auditing.replacements import Finding, compare, deployed_templates, judge


def environment(committed, name: str, stacks: dict[str, dict] | None = None) -> Environment:
    templates = stacks or {stack: template.to_json() for stack, template in committed.templates[name].items()}
    return Environment(
        name,
        tuple(
            AssemblyStack(stack, stack, f"{name}-{stack}", Path(f"{stack}.json"), template, (), {})
            for stack, template in sorted(templates.items())
        ),
    )


def changed(committed, name: str, stack: str, change) -> Environment:
    templates = {s: copy.deepcopy(t.to_json()) for s, t in committed.templates[name].items()}
    change(templates[stack]["Resources"])
    return environment(committed, name, templates)


def only(resources: dict, kind: str) -> tuple[str, dict]:
    [(logical_id, resource)] = [(k, r) for k, r in resources.items() if r["Type"] == kind]
    return logical_id, resource


def test_the_same_templates_replace_nothing(committed):
    base = [environment(committed, "prod")]
    assert compare(base, base) == []


def test_a_renamed_bucket_is_a_replacement_and_a_bucket_under_a_new_id_a_deletion(committed):
    base = environment(committed, "staging")

    def rename(resources):
        logical_id, bucket = next(
            (k, r) for k, r in resources.items() if r["Type"] == "AWS::S3::Bucket" and "BucketName" in r["Properties"]
        )
        bucket["Properties"]["BucketName"] = "sagemaker-lc-renamed"
        rename.logical_id = logical_id

    [finding] = compare([base], [changed(committed, "staging", "Training", rename)])
    assert finding == Finding("staging", "Training", rename.logical_id, "AWS::S3::Bucket", "BucketName")

    def move(resources):
        logical_id = next(k for k, r in resources.items() if r["Type"] == "AWS::S3::Bucket")
        resources[logical_id + "Renamed"] = resources.pop(logical_id)
        move.logical_id = logical_id

    [deleted] = compare([base], [changed(committed, "staging", "Data", move)])
    assert (deleted.stack, deleted.logical_id, deleted.property_path) == ("Data", move.logical_id, None)


@pytest.mark.parametrize(("path", "value"), [("SubnetIds", ["subnet-0other"]), ("KmsKeyId", "alias/other")])
def test_a_file_system_moved_to_another_subnet_or_key_is_a_replacement(committed, path, value):
    def change(resources):
        _, file_system = only(resources, "AWS::FSx::FileSystem")
        file_system["Properties"][path] = value

    [finding] = compare([environment(committed, "prod")], [changed(committed, "prod", "Data", change)])
    assert (finding.resource_type, finding.property_path) == ("AWS::FSx::FileSystem", path)


def test_a_renamed_hyperpod_cluster_is_a_replacement_and_passes_once_acknowledged(committed):
    def rename(resources):
        _, cluster = only(resources, "AWS::SageMaker::Cluster")
        cluster["Properties"]["ClusterName"] = "prod-training-2"

    findings = compare([environment(committed, "prod")], [changed(committed, "prod", "Training", rename)])
    [finding] = findings
    assert finding.property_path == "ClusterName" and str(finding).endswith("would be replaced (ClusterName changes)")
    assert not judge(findings, {}).passed
    verdict = judge(findings, {"prod": (finding.key,)})
    assert verdict.passed and verdict.acknowledged == (finding,)


def test_an_acknowledgement_of_a_change_already_in_the_base_is_reported_stale(committed):
    verdict = judge([], {"prod": ("Training/HyperPodCluster/ClusterName",)})
    assert verdict.passed
    assert verdict.stale == (("prod", "Training/HyperPodCluster/ClusterName"),)
    assert "stale acknowledgement: prod: Training/HyperPodCluster/ClusterName" in verdict.report()


def test_before_a_stage_deploys_the_base_is_what_cloudformation_holds():
    cloudformation = boto3.client(
        "cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(cloudformation) as stub:
        stub.add_response(
            "get_template",
            {"TemplateBody": '{"Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}}}'},
            {"StackName": "prod-Data", "TemplateStage": "Original"},
        )
        stub.add_client_error(
            "get_template",
            "ValidationError",
            "Stack with id prod-Agent does not exist",
            400,
            expected_params={"StackName": "prod-Agent", "TemplateStage": "Original"},
        )
        templates = deployed_templates(cloudformation, ["prod-Data", "prod-Agent"])
        stub.assert_no_pending_responses()
    assert templates == {"prod-Data": {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}}}}


def test_a_malformed_acknowledgement_is_refused_in_config():
    from config.loader import ConfigError, parse_environment

    raw = {
        "name": "qa",
        "tags": {"environment": "qa", "owner": "o", "cost_center": "c"},
        "acknowledged_replacements": ["the cluster"],
    }
    with pytest.raises(ConfigError, match=r"acknowledged_replacements: 'the cluster' is not allowed; expected <stack>"):
        parse_environment(raw, "qa", "environments/qa.yaml")


def test_the_command_compares_two_assemblies_and_passes_when_nothing_is_replaced(committed, capsys):
    from auditing.replacements import main

    assert main(["--base", str(committed.outdir), "--new", str(committed.outdir)]) == 0
    assert capsys.readouterr().out.strip() == "no stateful resource is deleted or replaced"


def test_a_file_system_replaced_through_its_subnet_in_another_stack_is_caught(committed):
    """A changed Network block replaces the training subnet; Data's template text does not change (the subnet comes
    through an output), yet FSx is replaced when Data next updates."""

    def move_subnet(resources):
        for resource in resources.values():
            if resource["Type"] == "AWS::EC2::Subnet" and "training" in json.dumps(resource).lower():
                resource["Properties"]["CidrBlock"] = "10.99." + resource["Properties"]["CidrBlock"].split(".", 2)[2]

    findings = compare([environment(committed, "prod")], [changed(committed, "prod", "Network", move_subnet)])
    fsx = [f for f in findings if f.resource_type == "AWS::FSx::FileSystem"]
    assert [(f.stack, f.property_path) for f in fsx] == [("Data", "SubnetIds")]
    assert any(f.resource_type == "AWS::SageMaker::Cluster" for f in findings)  # its VpcConfig names the subnet too


def test_before_a_stage_deploys_its_stacks_are_read_through_each_accounts_lookup_role(committed):
    """The pipeline's guard: the base is what CloudFormation holds, read as the CDK bootstrap's read-only lookup role
    of the stack's account and Region (an environment-agnostic stack: the caller's account and Region). A stack held
    with a file system in another subnet is a replacement; a stack not deployed yet is left out."""
    from auditing.assembly import load_environments
    from auditing.replacements import GUARD_SESSION, deployed_environment

    [prod] = [e for e in load_environments(committed.outdir) if e.name == "prod"]
    held = {s.stack_name: copy.deepcopy(s.template) for s in prod.stacks}
    fsx_id, fsx = only(held["prod-Data"]["Resources"], "AWS::FSx::FileSystem")
    fsx["Properties"]["SubnetIds"] = ["subnet-0123456789abcdef0"]
    sts = boto3.client("sts", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    clients = []

    def cloudformation_in(region, credentials):
        assert (region, credentials["AccessKeyId"]) == ("eu-west-1", "ASIALOOKUPEXAMPLE0")
        client = boto3.client("cloudformation", region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
        stub = Stubber(client)
        name = prod.stacks[len(clients)].stack_name
        if name == "prod-Agent":
            stub.add_client_error("get_template", "ValidationError", f"Stack with id {name} does not exist", 400)
        else:
            stub.add_response(
                "get_template",
                {"TemplateBody": json.dumps(held[name])},
                {"StackName": name, "TemplateStage": "Original"},
            )
        stub.activate()
        clients.append(stub)
        return client

    role = "arn:aws:iam::210987654321:role/cdk-hnb659fds-lookup-role-210987654321-eu-west-1"
    credentials = {
        "AccessKeyId": "ASIALOOKUPEXAMPLE0",
        "SecretAccessKey": "secret-access-key-example",
        "SessionToken": "session-token-example",
        "Expiration": "2026-11-30T18:00:00Z",
    }
    with Stubber(sts) as stub:
        stub.add_response(
            "get_caller_identity",
            {"Account": "210987654321", "Arn": "arn:aws:sts::210987654321:assumed-role/pipeline/build", "UserId": "u"},
        )
        for _ in prod.stacks:
            stub.add_response(
                "assume_role",
                {"Credentials": credentials},
                {"RoleArn": role, "RoleSessionName": GUARD_SESSION},
            )
        base = deployed_environment(prod, sts, cloudformation_in)
        stub.assert_no_pending_responses()
    for client in clients:
        client.assert_no_pending_responses()
    assert [s.stack_name for s in base.stacks] == [s.stack_name for s in prod.stacks if s.stack_name != "prod-Agent"]
    findings = compare([base], [prod])
    assert ("Data", fsx_id, "SubnetIds") in {(f.stack, f.logical_id, f.property_path) for f in findings}
    assert all(f.stack != "Agent" for f in findings)


def test_documented_replacements_beyond_the_schemas_are_caught(committed):
    """CloudFormation replaces a table for a new key and a user pool for new sign-in attributes (documented, not in
    the schemas), and the serving handler buys a new throughput for new model units."""

    def rekey(resources):
        _, table = only(resources, "AWS::DynamoDB::Table")
        table["Properties"]["KeySchema"] = [{"AttributeName": "other", "KeyType": "HASH"}]

    def sign_in(resources):
        [pool] = [
            r for k, r in resources.items() if k.startswith("AgentUsers") and r["Type"] == "AWS::Cognito::UserPool"
        ]
        pool["Properties"]["UsernameAttributes"] = ["phone_number"]

    def units(resources):
        _, served = only(resources, "Custom::BedrockServedModel")
        served["Properties"]["ModelUnits"] = 2

    base = [environment(committed, "prod")]
    for stack, change, kind, path in (
        ("Workflow", rekey, "AWS::DynamoDB::Table", "KeySchema"),
        ("Agent", sign_in, "AWS::Cognito::UserPool", "UsernameAttributes"),
        ("Serving", units, "Custom::BedrockServedModel", "ModelUnits"),
    ):
        findings = compare(base, [changed(committed, "prod", stack, change)])
        assert [(f.stack, f.resource_type, f.property_path) for f in findings] == [(stack, kind, path)]


def test_a_stateful_resource_that_stops_being_retained_is_reported(committed):
    def unretain(resources):
        logical_id, table = only(resources, "AWS::DynamoDB::Table")
        assert table["DeletionPolicy"] in ("Retain", "RetainExceptOnCreate")
        table["DeletionPolicy"] = table["UpdateReplacePolicy"] = "Delete"
        unretain.logical_id = logical_id

    findings = compare([environment(committed, "prod")], [changed(committed, "prod", "Workflow", unretain)])
    assert [f.key for f in findings] == [
        f"Workflow/{unretain.logical_id}/DeletionPolicy",
        f"Workflow/{unretain.logical_id}/UpdateReplacePolicy",
    ]
    assert "no longer retains it" in str(findings[0])


def test_a_stack_that_leaves_the_app_is_reported_once_and_cannot_be_acknowledged(committed):
    """`cdk deploy` never deletes a stack that left the app: its resources keep running (retire it instead)."""
    base = environment(committed, "prod")
    without = Environment("prod", tuple(s for s in base.stacks if s.stack_id != "Training"))
    [finding] = compare([base], [without])
    assert (finding.stack, finding.resource_type) == ("Training", "AWS::CloudFormation::Stack")
    assert "list it under `retired:`" in str(finding)
    assert not judge([finding], {"prod": ("Training/",)}).passed


def test_the_base_is_synthesized_with_its_own_dependencies_when_they_changed(tmp_path):
    """An aws-cdk-lib bump or a feature flag changes templates by itself: the base must not be synthesized with the
    branch's libraries, or exactly those replacements are hidden."""
    import subprocess

    from auditing.replacements import dependencies_differ

    def git(*args):
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("config", "user.email", "guard@example.com")
    git("config", "user.name", "guard")
    (tmp_path / "requirements.txt").write_text("aws-cdk-lib==2.275.0\n")
    (tmp_path / "cdk.json").write_text("{}\n")
    git("add", ".")
    git("commit", "-qm", "base")
    base = git("rev-parse", "HEAD")
    (tmp_path / "app.py").write_text("# code only\n")
    git("add", ".")
    git("commit", "-qm", "code")
    assert not dependencies_differ(base, cwd=tmp_path)
    (tmp_path / "cdk.json").write_text('{"context": {"@aws-cdk/core:newFlag": true}}\n')
    git("commit", "-qam", "flag")
    assert dependencies_differ(base, cwd=tmp_path)
