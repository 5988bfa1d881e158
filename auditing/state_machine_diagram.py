"""state-machines/<Stack>-<LogicalId>.svg: the states of a Step Functions state machine and its
transitions (Next, Choice rules, Default, Catch, End).

CDK writes ``DefinitionString`` as an ``Fn::Join`` of JSON text and tokens (ARNs, names). The
definition is rebuilt by putting a ``${Logical.Attr}`` placeholder where each token was: inside a
JSON string it is spliced in, elsewhere it becomes a JSON string, so the text always parses.
Parallel and Map states are drawn as one box naming their branches' first states.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditing.cfn import TemplateSet
from auditing.svg import Drawing, text_width, truncate

END = "(end)"
START = "(start)"
LAYER_HEIGHT = 110
NODE_HEIGHT = 44
GAP = 50
TOP = 70
LABEL_LIMIT = 44
COMPARATORS = {
    "Equals": "==",
    "GreaterThan": ">",
    "GreaterThanEquals": ">=",
    "LessThan": "<",
    "LessThanEquals": "<=",
    "Matches": "matches",
}


def _placeholder(templates: TemplateSet, stack_id: str, token: Any) -> str:
    return "${" + templates.display(stack_id, token) + "}"


def definition_text(templates: TemplateSet, stack_id: str, definition: Any) -> str:
    """The definition as JSON text, tokens replaced by placeholders."""
    if isinstance(definition, str):
        return definition
    if isinstance(definition, Mapping) and "Fn::Sub" in definition:
        sub = definition["Fn::Sub"]
        return str(sub if isinstance(sub, str) else sub[0])
    if not (isinstance(definition, Mapping) and "Fn::Join" in definition):
        raise ValueError(f"unsupported DefinitionString: {json.dumps(definition)[:120]}")
    separator, parts = definition["Fn::Join"]
    text = ""
    in_string = False
    escaped = False
    for index, part in enumerate(parts):
        part_text = str(separator) if index else ""
        if isinstance(part, str):
            part_text += part
        for char in part_text:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = not in_string
        text += part_text
        if not isinstance(part, str):
            placeholder = _placeholder(templates, stack_id, part)
            text += json.dumps(placeholder)[1:-1] if in_string else json.dumps(placeholder)
    return text


def state_machine_definition(templates: TemplateSet, stack_id: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """The parsed definition of an ``AWS::StepFunctions::StateMachine`` (``Definition`` or ``DefinitionString``)."""
    if isinstance(properties.get("Definition"), Mapping):
        return dict(properties["Definition"])
    parsed: dict[str, Any] = json.loads(definition_text(templates, stack_id, properties.get("DefinitionString")))
    return parsed


def describe_condition(rule: Mapping[str, Any]) -> str:
    """A Choice rule as short text: ``$.status == "DONE"``, ``and(...)``, or the JSONata condition."""
    if "Condition" in rule:
        return str(rule["Condition"])
    for combinator in ("And", "Or"):
        if combinator in rule:
            return f"{combinator.lower()}(" + ", ".join(describe_condition(r) for r in rule[combinator]) + ")"
    if "Not" in rule:
        return f"not({describe_condition(rule['Not'])})"
    variable = str(rule.get("Variable", "?"))
    for key, value in sorted(rule.items()):
        if key in ("Variable", "Next"):
            continue
        if key.startswith("Is"):
            return f"{variable} {key[2:].lower()} {json.dumps(value)}"
        for suffix, symbol in COMPARATORS.items():
            for kind in ("String", "Numeric", "Boolean", "Timestamp"):
                if key in (f"{kind}{suffix}", f"{kind}{suffix}Path"):
                    return f"{variable} {symbol} {value if key.endswith('Path') else json.dumps(value)}"
        return f"{variable} {key} {json.dumps(value)}"
    return variable


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str
    kind: str  # next, choice, default, catch, end


@dataclass(frozen=True)
class StateGraph:
    start: str
    states: Mapping[str, Mapping[str, Any]]
    edges: tuple[Edge, ...]


def state_graph(definition: Mapping[str, Any]) -> StateGraph:
    """States and transitions, in definition order (the order the diagram is drawn in)."""
    states: Mapping[str, Mapping[str, Any]] = definition.get("States", {})
    edges = [Edge(START, str(definition.get("StartAt")), "", "next")]
    for name, state in states.items():
        for rule in state.get("Choices", []):
            edges.append(Edge(name, str(rule.get("Next")), describe_condition(rule), "choice"))
        if "Default" in state:
            edges.append(Edge(name, str(state["Default"]), "Default", "default"))
        if "Next" in state:
            edges.append(Edge(name, str(state["Next"]), "", "next"))
        for catch in state.get("Catch", []):
            errors = ", ".join(str(e) for e in catch.get("ErrorEquals", []))
            edges.append(Edge(name, str(catch.get("Next")), f"Catch {errors}", "catch"))
        if state.get("End") is True or state.get("Type") == "Succeed":
            edges.append(Edge(name, END, "", "end"))
    return StateGraph(str(definition.get("StartAt")), states, tuple(edges))


def _layers(graph: StateGraph) -> dict[str, int]:
    """Breadth-first depth from the start along the run's path (not Catch edges: where errors go is drawn below
    it); states reached only by a Catch, or not at all, below everything, End last."""
    depth = {START: 0}
    queue = deque([START])
    outgoing: dict[str, list[str]] = {}
    for edge in graph.edges:
        if edge.kind != "catch":
            outgoing.setdefault(edge.source, []).append(edge.target)
    longest = _longest_paths(outgoing)
    while True:
        while queue:
            node = queue.popleft()
            for target in outgoing.get(node, []):
                if target not in depth and target != END:
                    depth[target] = longest.get(target, depth[node] + 1)
                    queue.append(target)
        # The next state not yet placed (the failure path, say) starts its own rows below, with what follows it.
        rest = [name for name in graph.states if name not in depth]
        if not rest:
            break
        depth[rest[0]] = max(depth.values()) + 1
        queue.append(rest[0])
    depth[END] = max(depth.values()) + 1
    return depth


def _longest_paths(outgoing: Mapping[str, list[str]]) -> dict[str, int]:
    """Each state's longest distance from the start when the run's path has no loop (an overview): every edge then
    points down. Empty when it loops (a polling loop): breadth-first rows are used instead."""
    order: list[str] = []
    marks: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str) -> bool:
        if marks.get(node) == 1:
            return False
        if marks.get(node) == 2:
            return True
        marks[node] = 1
        if not all(visit(t) for t in outgoing.get(node, []) if t != END):
            return False
        marks[node] = 2
        order.append(node)
        return True

    if not visit(START):
        return {}
    longest = {START: 0}
    for node in reversed(order):
        for target in outgoing.get(node, []):
            if target != END and node in longest:
                longest[target] = max(longest.get(target, 0), longest[node] + 1)
    return longest


def node_text(name: str, state: Mapping[str, Any]) -> str:
    kind = str(state.get("Type", "?"))
    if kind == "Parallel":
        starts = ", ".join(str(b.get("StartAt")) for b in state.get("Branches", []))
        return f"Parallel: {truncate(starts, 40)}"
    if kind == "Map":
        processor = state.get("ItemProcessor") or state.get("Iterator") or {}
        return f"Map: {processor.get('StartAt', '?')}"
    if kind == "Task":
        resource = str(state.get("Resource", ""))
        target = resource.rsplit(":::", 1)[-1] if ":::" in resource else resource.removeprefix("${").removesuffix("}")
        return f"Task {truncate(target, 36)}" if target else "Task"
    return kind


LEGEND = "solid: Next, Choice rules and Default; dashed red: Catch"
FILLS = {
    "Choice": "#fff4d6",
    "Fail": "#fbe0e0",
    "Succeed": "#e1f5e1",
    "Parallel": "#e8e4f7",
    "Map": "#e8e4f7",
    "Exit": "#f0f0f0",  # a phase picture's way out to another phase
}


def render_state_machine(definition: Mapping[str, Any], title: str) -> str:
    graph = state_graph(definition)
    return render_graph(graph, {name: node_text(name, state) for name, state in graph.states.items()}, title)


def render_graph(graph: StateGraph, texts: Mapping[str, str], title: str, legend: str = LEGEND) -> str:
    """Boxes in rows by distance from the start (``texts``: each box's second line; a state's ``Type`` picks its
    fill), edges down, around (rows skipped, on the left) or back up (loops, on the right)."""
    depth = _layers(graph)
    ends = any(edge.kind == "end" for edge in graph.edges)
    rows: dict[int, list[str]] = {}
    for node in [START, *graph.states, *([END] if ends else [])]:
        rows.setdefault(depth[node], []).append(node)
    widths = {
        node: max(150, text_width(node) + 24, text_width(texts.get(node, "")) + 24)
        for row in rows.values()
        for node in row
    }
    widths[START] = widths[END] = 70
    row_widths = {row: sum(widths[n] for n in nodes) + GAP * (len(nodes) - 1) for row, nodes in rows.items()}
    content = max(row_widths.values())
    drawn = [e for e in graph.edges if e.target in depth and (e.target != END or ends)]
    skips = sum(1 for e in drawn if depth[e.target] > depth[e.source] + 1)
    backs = sum(1 for e in drawn if depth[e.target] <= depth[e.source])
    # Room beside the rows for edges that skip rows (left) or go back up (right), and their labels.
    left = 60 + 14 * skips + (text_width("x" * LABEL_LIMIT) + 10 if skips else 0)
    right = 60 + 14 * backs + (text_width("x" * LABEL_LIMIT) + 10 if backs else 0)
    positions: dict[str, tuple[int, int]] = {}
    for row, nodes in rows.items():
        x = left + (content - row_widths[row]) // 2
        for node in nodes:
            positions[node] = (x, TOP + row * LAYER_HEIGHT)
            x += widths[node] + GAP
    drawing = Drawing()
    drawing.text(20, 28, title, bold=True)
    drawing.text(20, 48, legend, color="#555")
    for node, (x, y) in positions.items():
        if node in (START, END):
            drawing.circle(x + 35, y + NODE_HEIGHT // 2, 16, fill="#333" if node == END else "#ffffff")
            drawing.text(x + 57, y + NODE_HEIGHT // 2 + 4, node.strip("()"), color="#555")
            continue
        kind = str(graph.states[node].get("Type"))
        drawing.rect(
            x, y, widths[node], NODE_HEIGHT, fill=FILLS.get(kind, "#eef3fa"), radius=10 if kind == "Choice" else 6
        )
        drawing.text(x + widths[node] // 2, y + 18, node, bold=True, anchor="middle")
        drawing.text(x + widths[node] // 2, y + 35, texts[node], anchor="middle", color="#444")

    def between(edge: Edge) -> list[str]:
        low, high = sorted((depth[edge.source], depth[edge.target]))
        return [n for row in range(low, high + 1) for n in rows.get(row, [])]

    back = 0
    skip = 0
    for edge in graph.edges:
        if edge.target not in positions:
            continue
        sx, sy = positions[edge.source]
        tx, ty = positions[edge.target]
        color = "#b03030" if edge.kind == "catch" else "#555"
        dashed = edge.kind == "catch"
        label = truncate(edge.label, LABEL_LIMIT)
        if depth[edge.target] == depth[edge.source] + 1:
            x1, y1 = sx + widths[edge.source] // 2, sy + NODE_HEIGHT
            x2, y2 = tx + widths[edge.target] // 2, ty - 2
            drawing.path(f"M {x1} {y1} C {x1} {y1 + 40}, {x2} {y2 - 40}, {x2} {y2}", color=color, dashed=dashed)
            if label:
                drawing.label((x1 + x2) // 2, (y1 + y2) // 2 + 4, label, color=color)
        elif depth[edge.target] > depth[edge.source]:
            # Down past the rows in between: out to the left of both boxes.
            skip += 1
            x1, y1 = sx, sy + NODE_HEIGHT // 2
            x2, y2 = tx, ty + NODE_HEIGHT // 2
            reach = min(positions[n][0] for n in between(edge)) - 30 - 14 * skip
            drawing.path(f"M {x1} {y1} C {reach} {y1}, {reach} {y2}, {x2 - 2} {y2}", color=color, dashed=dashed)
            if label:
                apex = (x1 + x2) // 8 + 3 * reach // 4
                drawing.label(apex - 6 - text_width(label) // 2, (y1 + y2) // 2 + 4, label, color=color)
        else:
            # Back up (a retry or polling loop): out to the right of both boxes.
            back += 1
            x1, y1 = sx + widths[edge.source], sy + NODE_HEIGHT // 2
            x2, y2 = tx + widths[edge.target], ty + NODE_HEIGHT // 2
            reach = max(positions[n][0] + widths[n] for n in between(edge)) + 30 + 14 * back
            drawing.path(f"M {x1} {y1} C {reach} {y1}, {reach} {y2}, {x2 + 2} {y2}", color=color, dashed=dashed)
            if label:
                apex = (x1 + x2) // 8 + 3 * reach // 4
                drawing.label(apex + 6 + text_width(label) // 2, (y1 + y2) // 2 + 4, label, color=color)
    height = TOP + (max(rows) + 1) * LAYER_HEIGHT
    width = max(left + content + right, text_width(legend) + 40, text_width(title) + 40)
    return drawing.render(width, height, title)
