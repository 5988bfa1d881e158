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


# --- the customization workflow, by phase ------------------------------------------------------------------------


def workflow_definition(committed, env: str) -> dict:
    from auditing.cfn import StackTemplate

    templates = TemplateSet([StackTemplate("Workflow", committed.templates[env]["Workflow"].to_json(), env, ())])
    [machine] = list(templates.resources("AWS::StepFunctions::StateMachine"))
    return state_machine_definition(templates, "Workflow", machine.properties)


def test_the_overview_has_a_box_per_step_not_per_state(committed):
    """Issue 18: the prod workflow's ~110 states drawn whole are a tangle; the overview draws steps (a polling loop
    is one), at most about 25, with one error edge per phase and end to the failure path, and every transition
    between steps of the run."""
    from auditing.workflow_phases import FAILURE, is_customization_workflow, overview, step_of

    for env in ("dev", "staging", "prod"):
        definition = workflow_definition(committed, env)
        assert is_customization_workflow(definition)
        graph = overview(definition)
        assert 12 <= len(graph.states) <= 25, (env, sorted(graph.states))
        drawn = {(e.source, e.target) for e in graph.edges}
        full = state_graph(definition)
        into_failure, between = set(), set()
        for edge in full.edges:
            if edge.source not in definition["States"] or edge.target not in definition["States"]:
                continue
            (source_phase, source), (target_phase, target) = step_of(edge.source), step_of(edge.target)
            if source_phase.name == FAILURE:
                continue
            if target_phase.name == FAILURE:
                into_failure.add(source_phase.name)
            elif source.name != target.name:
                between.add((source.name, target.name))
        assert between - drawn == set(), (env, between - drawn)
        errors = [e for e in graph.edges if e.kind == "catch" and e.label.startswith("errors of ")]
        assert len({(e.label, e.target) for e in errors}) == len(errors), "one error edge per phase and end"
        assert {e.label.removeprefix("errors of ") for e in errors} == into_failure
    assert len(workflow_definition(committed, "prod")["States"]) > 100


def test_every_state_is_claimed_by_exactly_one_step(committed):
    from auditing.workflow_phases import PHASES

    for env in ("dev", "staging", "prod"):
        for state in workflow_definition(committed, env)["States"]:
            claims = [(p.name, s.name) for p in PHASES for s in p.steps if s.claims(state)]
            assert len(claims) == 1, (env, state, claims)


def test_every_state_is_in_exactly_one_phase_picture(committed):
    from auditing.workflow_phases import OTHER, phase_graph, phase_states, pictures

    for env in ("dev", "staging", "prod"):
        definition = workflow_definition(committed, env)
        phases = phase_states(definition)
        assert OTHER not in phases, f"{env}: states no phase claims: {phases.get(OTHER)}"
        drawn: list[str] = []
        for phase in phases:
            graph = phase_graph(definition, phase)
            own = [name for name, state in graph.states.items() if state.get("Type") != "Exit"]
            assert own == phases[phase]
            drawn += own
        assert sorted(drawn) == sorted(definition["States"]), env
        svgs = dict(pictures(definition, env))
        for phase, states in phases.items():
            svg = svgs[phase.lower().replace(" ", "-")]
            missing = [s for s in states if f">{s.replace('&', '&amp;')}</text>" not in svg]
            assert missing == [], (env, phase, missing)


def test_a_state_no_step_claims_is_drawn_in_other_not_lost():
    from auditing.workflow_phases import OTHER, phase_states

    definition = {
        "StartAt": "Validate",
        "States": {"Validate": {"Type": "Pass", "Next": "Mystery"}, "Mystery": {"Type": "Succeed"}},
    }
    assert phase_states(definition) == {"Validate": ["Validate"], OTHER: ["Mystery"]}
