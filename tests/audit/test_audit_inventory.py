"""Inventory: resource counts by type, per stack and in total."""

from __future__ import annotations

from auditing.cfn import TemplateSet
from auditing.inventory import count_by_type, render_inventory

TEMPLATES = TemplateSet.of(
    {
        "Network": {
            "Resources": {
                "A": {"Type": "AWS::EC2::Subnet"},
                "B": {"Type": "AWS::EC2::Subnet"},
                "K": {"Type": "AWS::KMS::Key"},
            }
        },
        "Data": {"Resources": {"K": {"Type": "AWS::KMS::Key"}}},
        "Empty": {"Resources": {}},
    }
)


def test_counts_by_type_per_stack():
    counts = count_by_type(TEMPLATES)
    assert counts["Network"] == {"AWS::EC2::Subnet": 2, "AWS::KMS::Key": 1}
    assert counts["Data"] == {"AWS::KMS::Key": 1}
    assert counts["Empty"] == {}


def test_the_matrix_totals_each_type_and_each_stack():
    text = render_inventory("dev", TEMPLATES)
    assert "4 resources of 2 types in 3 stacks." in text
    assert "| `AWS::KMS::Key` | 1 |  | 1 | 2 |" in text
    assert "| **Total** | **1** | **0** | **3** | **4** |" in text
