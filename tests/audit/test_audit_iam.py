"""IAM report: trust principals, attached policies from every source, and wildcard marking."""

from __future__ import annotations

from auditing.cfn import TemplateSet
from auditing.iam import WILDCARD, render_iam, role_reports

TRUST = {
    "Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}]
}


def role(**extra):
    return {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST, **extra}}


def policy(role_id, statements, kind="AWS::IAM::Policy"):
    return {
        "Type": kind,
        "Properties": {"PolicyDocument": {"Statement": statements}, "Roles": [{"Ref": role_id}]},
    }


def reports_by_id(templates):
    return {r.logical_id: r for r in role_reports(templates)}


def test_a_role_allowed_a_wildcard_action_is_marked():
    templates = TemplateSet.of(
        {
            "App": {
                "Resources": {
                    "Broad": role(),
                    "BroadPolicy": policy(
                        "Broad", [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"}]
                    ),
                }
            }
        }
    )
    report = reports_by_id(templates)["Broad"]
    assert report.wildcard
    assert report.statements[0].wildcard_actions == ("s3:*",)
    row = next(line for line in render_iam("dev", templates).splitlines() if line.startswith("| `App/Broad`"))
    assert WILDCARD in row


def test_a_role_with_scoped_actions_and_resources_is_not_marked():
    bucket_arn = {"Fn::GetAtt": ["Bucket", "Arn"]}
    templates = TemplateSet.of(
        {
            "App": {
                "Resources": {
                    "Bucket": {"Type": "AWS::S3::Bucket"},
                    "Narrow": role(),
                    "NarrowPolicy": policy(
                        "Narrow", [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": bucket_arn}]
                    ),
                }
            }
        }
    )
    report = reports_by_id(templates)["Narrow"]
    assert not report.wildcard
    assert report.statements[0].resources == ("App/Bucket.Arn",)
    row = next(line for line in render_iam("dev", templates).splitlines() if line.startswith("| `App/Narrow`"))
    assert WILDCARD not in row


def test_a_wildcard_resource_is_marked_but_a_wildcard_deny_is_not():
    templates = TemplateSet.of(
        {
            "App": {
                "Resources": {
                    "R": role(
                        Policies=[
                            {
                                "PolicyName": "inline",
                                "PolicyDocument": {
                                    "Statement": [
                                        {"Effect": "Allow", "Action": "ec2:DescribeVpcs", "Resource": "*"},
                                        {"Effect": "Deny", "Action": "*", "Resource": "*"},
                                    ]
                                },
                            }
                        ]
                    )
                }
            }
        }
    )
    allow, deny = reports_by_id(templates)["R"].statements
    assert allow.wildcard_resources == ("*",)
    assert not deny.wildcard


def test_managed_policies_attach_across_stacks_and_aws_managed_ones_are_listed_by_arn():
    """A role in Training gets a customer managed policy of Data through Fn::GetStackOutput."""
    data = {
        "Resources": {
            "ReadPolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]}
                },
            }
        },
        "Outputs": {"OutRead": {"Value": {"Ref": "ReadPolicy"}}},
    }
    aws_managed = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/ReadOnlyAccess"]]}
    training = {
        "Resources": {
            "Node": role(
                ManagedPolicyArns=[
                    aws_managed,
                    {"Fn::GetStackOutput": {"StackName": "Data", "OutputName": "OutRead"}},
                ]
            )
        }
    }
    report = reports_by_id(TemplateSet.of({"Data": data, "Training": training}))["Node"]
    assert report.managed_policy_arns == ("arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess",)
    assert [s.source for s in report.statements] == ["AWS::IAM::ManagedPolicy Data/ReadPolicy"]


def test_trust_conditions_are_summarized():
    trust = {
        "Statement": [
            {
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com"},
                "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:o/r:*"}},
            }
        ]
    }
    templates = TemplateSet.of(
        {
            "App": {
                "Resources": {"Deploy": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust}}}
            }
        }
    )
    (statement,) = reports_by_id(templates)["Deploy"].trust
    assert statement.principals == ("Federated: arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com",)
    assert statement.conditions == "StringLike token.actions.githubusercontent.com:sub=repo:o/r:*"
