"""Every synthesized template, as a reviewer sees it: a template change shows up in the diff of
``tests/infra/__snapshots__/``. After an intended change, run ``make snapshots`` and commit them.

Asset hashes are replaced by ``<asset>``: they change with any byte of a Lambda or container
source, which the handler tests cover, and would otherwise bury the infrastructure changes.
"""

from __future__ import annotations

import json
import re

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from config.loader import load_environments

ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def stacks_of(env) -> list[str]:
    """The stacks an environment's config asks for (the Stage adds the same ones)."""
    optional = {"Training": env.cluster, "Workflow": env.workflow, "Serving": env.serving, "Agent": env.agent}
    return ["Network", "Data", *[name for name, section in optional.items() if section is not None]]


STACKS = [(env.name, stack) for env in load_environments() for stack in stacks_of(env)]


class TemplateSnapshot(JSONSnapshotExtension):
    """One readable JSON file per template."""


def normalized(template: dict) -> dict:
    return json.loads(ASSET_HASH.sub("<asset>", json.dumps(template, sort_keys=True)))


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(TemplateSnapshot)


@pytest.mark.parametrize(("env", "stack"), STACKS, ids=[f"{e}-{s}" for e, s in STACKS])
def test_template_matches_the_reviewed_snapshot(committed, snapshot_json, env, stack):
    assert normalized(committed.template(env, stack).to_json()) == snapshot_json
