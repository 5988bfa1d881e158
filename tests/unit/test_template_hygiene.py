"""The template clean-up: what DependsOn keeps, and that a template is written as aws-cdk-lib writes it."""

from __future__ import annotations

import hashlib
import json

import pytest

from stacks.template_hygiene import CleanTemplateSynthesizer, drop_redundant_depends_on, render_like_the_cdk


def _template(**resources: dict) -> dict:
    return {"Resources": resources}


def test_a_dependency_the_properties_reference_is_dropped_and_the_others_are_kept():
    template = _template(
        Fn={
            "Type": "AWS::Lambda::Function",
            "Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}, "Env": {"Ref": "Queue"}},
            "DependsOn": ["Policy", "Queue", "Role"],
        }
    )
    assert drop_redundant_depends_on(template)
    assert template["Resources"]["Fn"]["DependsOn"] == ["Policy"]


def test_dependson_is_left_out_when_every_dependency_is_referenced():
    template = _template(Fn={"Type": "T", "Properties": {"Role": {"Ref": "Role"}}, "DependsOn": "Role"})
    assert drop_redundant_depends_on(template)
    assert "DependsOn" not in template["Resources"]["Fn"]


def test_a_template_without_redundant_dependencies_is_unchanged():
    template = _template(
        Fn={"Type": "T", "Properties": {"Name": "x"}, "DependsOn": ["Role"]},
        Role={"Type": "AWS::IAM::Role", "Metadata": {"Ref": "Fn"}},
    )
    before = json.dumps(template)
    assert not drop_redundant_depends_on(template)
    assert json.dumps(template) == before


def test_a_reference_outside_properties_does_not_make_a_dependency_redundant():
    """Only Properties count: a Ref in Metadata or a Condition is no deploy-order dependency."""
    template = _template(Fn={"Type": "T", "Metadata": {"Ref": "Role"}, "DependsOn": ["Role"]})
    assert not drop_redundant_depends_on(template)


def test_rendering_matches_json_stringify_with_one_space_indent():
    """JSON.stringify(value, undefined, 1): one space per level, ': ' after keys, non-ASCII kept as is."""
    value = {"a": [1, {"b": "é\n"}], "c": {}, "d": [], "e": 0.5}
    indented = '{\n "a": [\n  1,\n  {\n   "b": "é\\n"\n  }\n ],\n "c": {},\n "d": [],\n "e": 0.5\n}'
    assert render_like_the_cdk(value, indented=True) == indented
    assert render_like_the_cdk(value, indented=False) == '{"a":[1,{"b":"é\\n"}],"c":{},"d":[],"e":0.5}'


@pytest.mark.parametrize(("timeout", "cleaned"), [(3, True), (1e-7, False)], ids=["cleaned", "python-writes-1e-07"])
def test_the_synthesizer_rewrites_a_template_only_when_python_writes_it_as_aws_cdk_lib_does(tmp_path, timeout, cleaned):
    """The redundant DependsOn goes, and the asset hash is the rewritten file's; a template holding a value Python
    writes differently (JSON.stringify: 1e-7, Python: 1e-07) keeps aws-cdk-lib's bytes and its DependsOn."""
    import aws_cdk as cdk

    app = cdk.App(outdir=str(tmp_path), builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "Probe", synthesizer=CleanTemplateSynthesizer())
    role = cdk.CfnResource(stack, "Role", type="AWS::IAM::Role", properties={"Path": "/"})
    function = cdk.CfnResource(
        stack, "Fn", type="AWS::Lambda::Function", properties={"Role": role.get_att("Arn"), "Timeout": timeout}
    )
    function.add_dependency(role)
    app.synth()
    written = (tmp_path / "Probe.template.json").read_text(encoding="utf-8")
    assert ("DependsOn" not in json.loads(written)["Resources"]["Fn"]) is cleaned
    assert ("1e-7" in written) is not cleaned
    [asset_hash] = json.loads((tmp_path / "Probe.assets.json").read_text())["files"]
    assert asset_hash == hashlib.sha256(written.encode()).hexdigest()
