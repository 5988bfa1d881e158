"""architecture.svg: one box per stack with its resource types grouped by service, and arrows for
cross-stack references (``Fn::GetStackOutput``, ``Fn::ImportValue``) and stack dependencies.

Stacks are laid out in columns by dependency depth (producers left, consumers right), ordered by
stack id within a column, so the drawing depends on the templates only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from auditing.cfn import TemplateSet
from auditing.svg import LINE_HEIGHT, Drawing, text_width

GAP_X = 120
GAP_Y = 30
TOP = 110
LANE = 10
LEFT = 30
HEADER = 30
MIN_WIDTH = 240


def _cross_stack_values(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, dict):
        if len(value) == 1 and ("Fn::GetStackOutput" in value or "Fn::ImportValue" in value):
            yield value
            return
        for item in value.values():
            yield from _cross_stack_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _cross_stack_values(item)


def references(templates: TemplateSet) -> Counter[tuple[str, str]]:
    """(producer, consumer) -> number of cross-stack reference sites in the consumer's template."""
    counts: Counter[tuple[str, str]] = Counter()
    for stack in templates.stacks:
        for value in _cross_stack_values(stack.template.get("Resources", {})):
            producer, _ = templates.follow(stack.stack_id, value)
            if producer != stack.stack_id:
                counts[(producer, stack.stack_id)] += 1
    return counts


def edges(templates: TemplateSet) -> dict[tuple[str, str], int]:
    """Producer -> consumer edges: references counted, dependencies without references as 0."""
    found: dict[tuple[str, str], int] = dict(references(templates))
    known = {s.stack_id for s in templates.stacks}
    for stack in templates.stacks:
        for dependency in stack.dependencies:
            if dependency in known:
                found.setdefault((dependency, stack.stack_id), 0)
    return dict(sorted(found.items()))


def layers(templates: TemplateSet, graph: Mapping[tuple[str, str], int]) -> dict[str, int]:
    """Column of each stack: 0 for stacks that consume nothing, else one more than its producers."""
    producers: dict[str, set[str]] = {s.stack_id: set() for s in templates.stacks}
    for producer, consumer in graph:
        producers[consumer].add(producer)
    depth: dict[str, int] = {}

    def visit(stack_id: str, seen: frozenset[str]) -> int:
        if stack_id not in depth:
            parents = [p for p in producers[stack_id] if p not in seen]
            depth[stack_id] = 1 + max((visit(p, seen | {stack_id}) for p in parents), default=-1)
        return depth[stack_id]

    for stack_id in sorted(producers):
        visit(stack_id, frozenset())
    return depth


def box_lines(template: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(text, is_service_header): services in order, each with its types and counts."""
    counts = Counter(str(body.get("Type")) for body in template.get("Resources", {}).values())
    services: dict[str, list[tuple[str, int]]] = {}
    for resource_type, count in sorted(counts.items()):
        parts = resource_type.split("::")
        service = parts[1] if parts[0] == "AWS" and len(parts) == 3 else parts[0]
        services.setdefault(service, []).append((parts[-1], count))
    lines: list[tuple[str, bool]] = []
    for service in sorted(services):
        lines.append((service, True))
        lines += [(f"{name} ({count})", False) for name, count in services[service]]
    return lines


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    width: int
    height: int


def render_architecture(environment: str, templates: TemplateSet) -> str:
    graph = edges(templates)
    depth = layers(templates, graph)
    columns: dict[int, list[str]] = {}
    for stack_id in sorted(depth):
        columns.setdefault(depth[stack_id], []).append(stack_id)
    contents = {s.stack_id: box_lines(s.template) for s in templates.stacks}
    boxes: dict[str, Box] = {}
    x = LEFT
    bottom = TOP
    for column in sorted(columns):
        stacks = columns[column]
        width = max(
            [MIN_WIDTH]
            + [text_width(f"{s} ({len(templates.stack(s).resources)} resources)") + 24 for s in stacks]
            + [text_width(line) + 36 for s in stacks for line, _ in contents[s]]
        )
        y = TOP
        for stack_id in stacks:
            height = HEADER + LINE_HEIGHT * len(contents[stack_id]) + 12
            boxes[stack_id] = Box(x, y, width, height)
            y += height + GAP_Y
        bottom = max(bottom, y)
        x += width + GAP_X
    drawing = Drawing()
    total = sum(len(s.resources) for s in templates.stacks)
    drawing.text(LEFT, 28, f"{environment}: {len(templates.stacks)} stacks, {total} resources", bold=True)
    drawing.text(LEFT, 48, "arrows: producer → consumer (cross-stack references; 'dependency' when none)", color="#555")
    for stack_id in sorted(boxes):
        box = boxes[stack_id]
        stack = templates.stack(stack_id)
        drawing.rect(box.x, box.y, box.width, box.height, fill="#f4f7fb")
        drawing.rect(box.x, box.y, box.width, HEADER - 4, fill="#dce6f2")
        title = f"{stack_id} ({len(stack.resources)} resources)"
        drawing.text(box.x + 10, box.y + 18, title, bold=True)
        for index, (line, header) in enumerate(contents[stack_id]):
            indent = 10 if header else 22
            y = box.y + HEADER + 12 + LINE_HEIGHT * index
            drawing.text(box.x + indent, y, line, bold=header, color="#111" if header else "#333")
    lane = 0
    for (producer, consumer), count in graph.items():
        a, b = boxes[producer], boxes[consumer]
        x1, y1 = a.x + a.width, a.y + HEADER // 2
        x2, y2 = b.x, b.y + HEADER // 2
        label = f"{count} refs" if count else "dependency"
        if depth[consumer] - depth[producer] == 1:
            bend = max(40, (x2 - x1) // 2)
            drawing.path(f"M {x1} {y1} C {x1 + bend} {y1}, {x2 - bend} {y2}, {x2 - 2} {y2}")
            drawing.label((x1 + x2) // 2, (y1 + y2) // 2 + 4, label)
        else:
            # Over the boxes in between, along a lane above them.
            top = TOP - 12 - LANE * lane
            lane += 1
            drawing.path(
                f"M {x1} {y1} L {x1 + 20} {y1} L {x1 + 20} {top} L {x2 - 20} {top} L {x2 - 20} {y2} L {x2 - 2} {y2}"
            )
            drawing.label((x1 + x2) // 2, top + 4, label)
    return drawing.render(x - GAP_X + LEFT, bottom + 10, f"Architecture of {environment}")
