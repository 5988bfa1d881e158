"""What each stack creates: resource counts by CloudFormation type, per stack and in total."""

from __future__ import annotations

from collections import Counter

from auditing.cfn import TemplateSet
from auditing.markdown import code, document, table


def count_by_type(templates: TemplateSet) -> dict[str, Counter[str]]:
    """Stack id -> Counter of resource types (every stack listed, even an empty one)."""
    counts: dict[str, Counter[str]] = {stack.stack_id: Counter() for stack in templates.stacks}
    for resource in templates.resources():
        counts[resource.stack_id][resource.type] += 1
    return counts


def render_inventory(environment: str, templates: TemplateSet) -> str:
    """inventory.md: a type x stack matrix with totals, then each stack's own list."""
    counts = count_by_type(templates)
    total: Counter[str] = Counter()
    for counter in counts.values():
        total.update(counter)
    stacks = sorted(counts)
    rows = [[code(t), *[str(counts[s][t] or "") for s in stacks], str(total[t])] for t in sorted(total)]
    rows.append(["**Total**", *[f"**{sum(counts[s].values())}**" for s in stacks], f"**{sum(total.values())}**"])
    summary = f"{sum(total.values())} resources of {len(total)} types in {len(stacks)} stacks."
    per_stack = [
        f"## {s}\n\n" + table(["Type", "Count"], [[code(t), str(n)] for t, n in sorted(counts[s].items())])
        for s in stacks
    ]
    return document(
        f"Inventory: {environment}", summary, "## All stacks\n\n" + table(["Type", *stacks, "Total"], rows), *per_stack
    )
