"""State machine diagrams: definitions rebuilt from Fn::Join, and every transition drawn."""

from __future__ import annotations

import json

from auditing.cfn import TemplateSet
from auditing.state_machine_diagram import Edge, render_state_machine, state_graph, state_machine_definition

CHOICE = {
    "StartAt": "Evaluate",
    "States": {
        "Evaluate": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Gate"},
        "Gate": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.score", "NumericGreaterThanEquals": 0.8, "Next": "Deploy"}],
            "Default": "Reject",
        },
        "Deploy": {"Type": "Succeed"},
        "Reject": {"Type": "Fail", "Error": "GateFailed"},
    },
}


def test_a_choice_renders_both_branches():
    graph = state_graph(CHOICE)
    assert Edge("Gate", "Deploy", "$.score >= 0.8", "choice") in graph.edges
    assert Edge("Gate", "Reject", "Default", "default") in graph.edges
    svg = render_state_machine(CHOICE, "workflow")
    for text in (">Deploy<", ">Reject<", ">$.score &gt;= 0.8<", ">Default<"):
        assert text in svg
    # One arrow per transition: start, Evaluate->Gate, both branches, Deploy->end.
    assert svg.count('marker-end="url(#arrow)"') == 5


def test_catch_and_end_are_transitions_too():
    definition = {
        "StartAt": "Train",
        "States": {
            "Train": {"Type": "Task", "End": True, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Cleanup"}]},
            "Cleanup": {"Type": "Pass", "End": True},
        },
    }
    edges = state_graph(definition).edges
    assert Edge("Train", "Cleanup", "Catch States.ALL", "catch") in edges
    assert Edge("Train", "(end)", "", "end") in edges


def test_a_definition_joined_with_tokens_is_rebuilt_with_placeholders():
    """CDK's Fn::Join: tokens inside JSON strings are spliced in, tokens outside become strings."""
    parts = [
        '{"StartAt":"Call","States":{"Call":{"Type":"Task","Resource":"',
        {"Fn::GetAtt": ["Fn", "Arn"]},
        '","TimeoutSeconds":',
        {"Ref": "Timeout"},
        ',"End":true}}}',
    ]
    templates = TemplateSet.of({"S": {"Resources": {"Fn": {"Type": "AWS::Lambda::Function"}}}})
    definition = state_machine_definition(templates, "S", {"DefinitionString": {"Fn::Join": ["", parts]}})
    assert definition["States"]["Call"]["Resource"] == "${Fn.Arn}"
    assert definition["States"]["Call"]["TimeoutSeconds"] == "${Timeout}"


def test_the_same_definition_draws_the_same_bytes():
    copy = json.loads(json.dumps(CHOICE))
    assert render_state_machine(CHOICE, "w") == render_state_machine(copy, "w")
