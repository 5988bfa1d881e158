"""YAML for config files, without YAML 1.1's silent surprises.

PyYAML's ``safe_load`` keeps the last of two equal keys (``removal_policy: retain`` then ``destroy`` means destroy),
reads ``yes``, ``no``, ``on`` and ``off`` as booleans (``endpoint_public: yes`` is true), and reads an unquoted number
with a leading zero as octal (``account: 012345678901`` becomes another number). Each is refused here with its line
and column; everything else loads as ``safe_load`` would.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from customization.problems import Problem

# YAML 1.1 booleans other than true/false (the YAML 1.1 type repository, "Boolean Language-Independent Type").
# (PyYAML reads y and n as text, so they are not among them.)
YAML11_BOOLEANS = re.compile(r"^(yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)$")
LEADING_ZERO_NUMBER = re.compile(r"^[-+]?0[0-9_]+$")


def _where(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that notes duplicate keys and ambiguous plain scalars instead of guessing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.problems: list[Problem] = []
        self.paths: dict[int, str] = {}  # node id -> dotted config key

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Keys written in this mapping, not those a merge key (<<: *defaults) brings, which a written key overrides.
        written = [key_node for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge"]
        seen: dict[Any, yaml.Node] = {}
        for key_node in written:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                self.problems.append(
                    Problem(
                        self.paths.get(id(key_node), str(key)),
                        f"a second {key!r} ({_where(key_node)}; the first at {_where(seen[key])})",
                        "each key once (YAML would keep the last silently)",
                    )
                )
            else:
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)

    def construct_scalar(self, node: yaml.ScalarNode) -> Any:  # type: ignore[override]
        if node.style is None and isinstance(node.value, str):
            key = self.paths.get(id(node), "(file)")
            shown = f"{node.value} ({_where(node)})"
            if YAML11_BOOLEANS.match(node.value):
                self.problems.append(Problem(key, shown, "true or false (or the word in quotes, if text is meant)"))
            elif LEADING_ZERO_NUMBER.match(node.value):
                self.problems.append(Problem(key, shown, "the value in quotes: YAML reads a leading zero as octal"))
        return super().construct_scalar(node)


def _name_nodes(node: yaml.Node, prefix: str, paths: dict[int, str]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            paths[id(key_node)] = paths[id(value_node)] = path
            _name_nodes(value_node, path, paths)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            paths[id(item)] = f"{prefix}[{index}]"
            _name_nodes(item, f"{prefix}[{index}]", paths)


def load(text: str) -> tuple[Any, list[Problem]]:
    """The document and what was refused in it, each named by its dotted key; a syntax error raises
    ``yaml.YAMLError`` as ``safe_load`` does."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        _name_nodes(node, "", loader.paths)
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    return data, loader.problems
