"""The customization workflow drawn so that a person can follow it: an overview by phase, and one picture per phase.

Drawn whole, the workflow is over a hundred states with a Catch edge from every task. Here each state belongs to one
step of one phase (validate, prepare, train per platform, import, evaluate, gate, deploy, record, and the failure
path); a polling loop (``<Loop>: wait``, ``: status?``, ``: past the deadline?``... built by
``constructs/workflow_polling.py``) is one step; the overview draws steps, with one dashed edge per phase to the
failure path for every error it can end in. Each phase's own picture draws its states, and where they leave the
phase, a box naming the phase they go to. A state no step claims is drawn in the phase ``Other`` (a test keeps
that empty for the committed environments).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditing.state_machine_diagram import START, Edge, StateGraph, node_text, render_graph, state_graph

FAILURE = "Failure path"
OTHER = "Other"
LOOP_SUFFIXES = (
    ": start waiting",
    ": wait",
    ": status?",
    ": longest wait?",
    ": wait longer",
    ": wait as long",
    ": past the deadline?",
    " timed out",
    " failed",
)
OVERVIEW_LEGEND = "solid: the run's path; dashed red: any error of the phase, to the failure path; (polled): a loop"


@dataclass(frozen=True)
class Step:
    """One box of the overview: named states, and a polling loop's states (``loop``: the loop's name)."""

    name: str
    states: frozenset[str] = frozenset()
    loop: str = ""

    def claims(self, state: str) -> bool:
        return state in self.states or (bool(self.loop) and any(state == self.loop + s for s in LOOP_SUFFIXES))


@dataclass(frozen=True)
class Phase:
    name: str
    steps: tuple[Step, ...] = field(default_factory=tuple)


def _step(name: str, *states: str, loop: str = "") -> Step:
    return Step(name, frozenset(states), loop)


PHASES = (
    Phase("Validate", (_step("Validate the request", "Validate", "Check evaluation dataset"),)),
    Phase(
        "Prepare", (_step("Prepare", "Prepare"), _step("Where to train?", "Where to train?", "Platform not wired here"))
    ),
    Phase("Train on SageMaker", (_step("Train on SageMaker", "Train on SageMaker", "Locate checkpoint"),)),
    Phase(
        "Train on Bedrock",
        (
            _step(
                "Customization job (polled)", "Check customization job", "Read customized model", loop="Customization"
            ),
        ),
    ),
    Phase(
        "Train on HyperPod",
        (
            _step("Submit HyperPod job", "Submit HyperPod job"),
            _step("HyperPod job (polled)", "Check HyperPod job", loop="HyperPod job"),
            _step("Release and locate checkpoint", "Release HyperPod job", "Locate HyperPod checkpoint"),
        ),
    ),
    Phase(
        "Import",
        (
            _step("Import checkpoint (polled)", "Import into Bedrock", "Check import", loop="Import"),
            _step(
                "Import open weights (polled)",
                "Import open-weight model",
                "Check model import",
                "Read imported model",
                loop="Model import",
            ),
        ),
    ),
    Phase(
        "Evaluate",
        (
            _step("Evaluate how?", "Evaluate how?"),
            _step(
                "Evaluation deployment (polled)",
                "Deploy for evaluation",
                "Check evaluation deployment",
                "Evaluate the deployment",
                loop="Evaluation deployment",
            ),
            _step(
                "Evaluation throughput (polled)",
                "Provision for evaluation",
                "Check evaluation throughput",
                "Evaluate the throughput",
                loop="Evaluation throughput",
            ),
            # An imported open-weight model is evaluated as it is, with no deployment first.
            _step("Score and report", "Evaluate the imported model", "Score records", "Report evaluation"),
        ),
    ),
    Phase("Gate", (_step("Quality gate", "Quality gate", "Gate failed", "Keep the approved model"),)),
    Phase(
        "Deploy",
        (
            _step(
                "Hand over to serving",
                "Deploy how?",
                "Serve imported model?",
                "Serve imported model on demand",
                "Imported model not served",
                "Evaluated on what?",
                "Remove evaluation deployment",
                "Remove evaluation throughput",
                "Leave serving to the Serving stack",
            ),
        ),
    ),
    Phase(
        "Record",
        (
            _step(
                "Record lineage and notify",
                "Record lineage",
                "Notify success",
                "Customized",
                "Notify lineage not recorded",
                "Lineage not recorded",
            ),
        ),
    ),
    Phase(
        FAILURE,
        (
            _step(
                "Clean up, record failure",
                "HyperPod job to remove?",
                "Remove HyperPod job",
                "Clean up",
                "Model kept?",
                "No model kept",
                "Record failure",
                "Notify failure",
                "Failed",
            ),
            _step("Rejected", "Notify rejected", "Rejected", "Notify validation failure", "Validation failed"),
        ),
    ),
)


def is_customization_workflow(definition: Mapping[str, Any]) -> bool:
    states = definition.get("States", {})
    return "Validate" in states and "Prepare" in states and "Quality gate" in states


def step_of(state: str) -> tuple[Phase, Step]:
    """The phase and step that claim ``state`` (``Other`` when none does)."""
    for phase in PHASES:
        for step in phase.steps:
            if step.claims(state):
                return phase, step
    return Phase(OTHER), Step(state, frozenset({state}))


def phase_states(definition: Mapping[str, Any]) -> dict[str, list[str]]:
    """Phase name -> its states, in definition order (phases in ``PHASES`` order, ``Other`` last)."""
    grouped: dict[str, list[str]] = {}
    for state in definition.get("States", {}):
        grouped.setdefault(step_of(state)[0].name, []).append(state)
    order = [p.name for p in PHASES] + [OTHER]
    return {name: grouped[name] for name in order if name in grouped}


def overview(definition: Mapping[str, Any]) -> StateGraph:
    """Steps as nodes; the run's transitions between steps (each once); one error edge per phase to the failure
    path's first step, for every Catch or transition into the failure path from a state of that phase."""
    full = state_graph(definition)
    nodes: dict[str, dict[str, Any]] = {}
    for state in full.states:
        phase, step = step_of(state)
        nodes.setdefault(step.name, {"Type": "Choice" if step.name.endswith("?") else "Task", "Phase": phase.name})
    failure_entry = next(s.name for s in PHASES[-1].steps)
    edges: list[Edge] = [Edge(START, step_of(full.start)[1].name, "", "next")]
    seen: set[tuple[str, str, str]] = set()
    for edge in full.edges:
        if edge.source == START or edge.target not in full.states:
            continue
        (source_phase, source), (target_phase, target) = step_of(edge.source), step_of(edge.target)
        if source_phase.name == FAILURE:
            continue  # the failure path's own transitions are in its picture
        if target_phase.name == FAILURE:  # a Catch, or a Next from a failed or timed-out check
            # A rejected request (Validate, Check evaluation dataset, Prepare's name check) ends in Rejected.
            key = (source_phase.name, "Rejected" if target.name == "Rejected" else failure_entry, "catch")
            if key not in seen:
                seen.add(key)
                edges.append(Edge(source.name, key[1], f"errors of {source_phase.name}", "catch"))
            continue
        key = (source.name, target.name, edge.kind)
        if source.name != target.name and key not in seen:
            seen.add(key)
            # A Catch that stays in its phase (Record lineage's, to its own notice) is drawn as such.
            edges.append(Edge(source.name, target.name, edge.label if edge.kind == "catch" else "", edge.kind))
    for state in full.states:
        if definition["States"][state].get("Type") == "Succeed":
            edges.append(Edge(step_of(state)[1].name, "(end)", "", "end"))
    return StateGraph(edges[0].target, nodes, tuple(edges))


def phase_graph(definition: Mapping[str, Any], phase: str) -> StateGraph:
    """The phase's states and transitions; a transition out of the phase ends in a box ``-> <phase>``."""
    full = state_graph(definition)
    own = set(phase_states(definition).get(phase, []))
    states: dict[str, Mapping[str, Any]] = {s: definition["States"][s] for s in full.states if s in own}
    edges: list[Edge] = []
    entries: list[str] = []
    for edge in full.edges:
        inside_source, inside_target = edge.source in own, edge.target in own
        if inside_source and (inside_target or edge.target == "(end)"):
            edges.append(edge)
        elif inside_source:
            exit_name = f"-> {step_of(edge.target)[0].name}"
            states.setdefault(exit_name, {"Type": "Exit"})
            edges.append(Edge(edge.source, exit_name, edge.label, edge.kind))
        elif inside_target and edge.target not in entries:
            entries.append(edge.target)
    start_edges = [Edge(START, entry, "", "next") for entry in entries]
    return StateGraph(entries[0] if entries else "", states, tuple(start_edges + edges))


def render_overview(definition: Mapping[str, Any], title: str) -> str:
    graph = overview(definition)
    texts = {name: f"phase: {node['Phase']}" for name, node in graph.states.items()}
    return render_graph(graph, texts, title, OVERVIEW_LEGEND)


def render_phase(definition: Mapping[str, Any], phase: str, title: str) -> str:
    graph = phase_graph(definition, phase)
    texts = {
        name: "(another phase)" if state.get("Type") == "Exit" else node_text(name, state)
        for name, state in graph.states.items()
    }
    return render_graph(graph, texts, title)


def file_stem(phase: str) -> str:
    return phase.lower().replace(" ", "-")


def pictures(definition: Mapping[str, Any], title: str) -> Sequence[tuple[str, str]]:
    """(file suffix, SVG): the overview, then one per phase."""
    found = [("overview", render_overview(definition, f"{title}: overview by phase"))]
    for phase in phase_states(definition):
        found.append((file_stem(phase), render_phase(definition, phase, f"{title}: {phase}")))
    return found
