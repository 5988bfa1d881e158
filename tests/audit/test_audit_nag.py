"""cdk-nag report: acknowledgements read from stack metadata, findings per environment."""

from __future__ import annotations

from auditing.nag import Finding, acknowledgements, render_nag

TEMPLATE = {
    "Resources": {
        "PolicyA1B2": {"Type": "AWS::IAM::Policy", "Metadata": {"aws:cdk:path": "dev/Data/Stores/Read/Resource"}},
        "Other": {"Type": "AWS::S3::Bucket", "Metadata": {"aws:cdk:path": "dev/Data/Stores/ReadOther/Resource"}},
    }
}
METADATA = {
    "/dev/Data/Stores/Read": [
        {
            "type": "aws:cdk:acknowledged-rules",
            "data": {
                "Annotation::AwsSolutions-IAM5[Action::s3:GetObject*]": "Object reads of one bucket.",
                "Annotation::NIST.800.53.R5-IAMNoInlinePolicy": "Grant policy.",
            },
        },
        {"type": "aws:cdk:logicalId", "data": "PolicyA1B2"},
    ],
    "/dev/Network/FlowLog": [
        {"type": "aws:cdk:acknowledged-rules", "data": {"CloudFormation-Validate::F3002": "Known."}}
    ],
}


def test_acknowledgements_carry_rule_reason_and_the_resources_under_the_construct():
    acks = {a.rule_id: a for a in acknowledgements(METADATA, TEMPLATE)}
    iam5 = acks["AwsSolutions-IAM5[Action::s3:GetObject*]"]
    assert (iam5.pack, iam5.rule, iam5.finding) == ("AwsSolutions", "AwsSolutions-IAM5", "Action::s3:GetObject*")
    assert (iam5.path, iam5.reason, iam5.resources) == (
        "dev/Data/Stores/Read",
        "Object reads of one bucket.",
        ("PolicyA1B2",),
    )
    assert acks["NIST.800.53.R5-IAMNoInlinePolicy"].pack == "NIST.800.53.R5"
    assert acks["F3002"].source == "CloudFormation-Validate"


def test_only_the_packs_that_ran_are_reported():
    text = render_nag("dev", ["AwsSolutions"], [], acknowledgements(METADATA, TEMPLATE))
    assert "**Unacknowledged findings: none.**" in text
    assert "Object reads of one bucket." in text
    assert "Grant policy." not in text


def test_findings_of_this_environment_are_listed():
    findings = [
        Finding("AwsSolutions", "AwsSolutions-S1", "dev/Data/Plain/Resource", "error", "No access logs."),
        Finding("AwsSolutions", "AwsSolutions-S1", "prod/Data/Plain/Resource", "error", "No access logs."),
    ]
    text = render_nag("dev", ["AwsSolutions"], findings, [])
    assert "**Unacknowledged findings: 1.**" in text
    assert "`dev/Data/Plain/Resource`" in text
    assert "prod/" not in text
