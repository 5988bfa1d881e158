"""Architecture diagram: a box per stack, arrows from producer to consumer stacks."""

from __future__ import annotations

from auditing.cfn import StackTemplate, TemplateSet
from auditing.diagram import edges, layers, render_architecture

NETWORK = {"Resources": {"Vpc": {"Type": "AWS::EC2::VPC"}}, "Outputs": {"VpcId": {"Value": {"Ref": "Vpc"}}}}
DATA = {
    "Resources": {
        "Fs": {
            "Type": "AWS::FSx::FileSystem",
            "Properties": {"SubnetIds": [{"Fn::GetStackOutput": {"StackName": "dev-Network", "OutputName": "VpcId"}}]},
        }
    }
}


def templates():
    return TemplateSet(
        [
            StackTemplate("Network", NETWORK, "dev-Network"),
            StackTemplate("Data", DATA, "dev-Data", ("Network",)),
            StackTemplate("Training", {"Resources": {}}, "dev-Training", ("Data",)),
        ]
    )


def test_references_and_dependencies_become_edges_and_columns():
    graph = edges(templates())
    assert graph == {("Data", "Training"): 0, ("Network", "Data"): 1}
    assert layers(templates(), graph) == {"Network": 0, "Data": 1, "Training": 2}


def test_the_svg_shows_every_stack_and_edge_label():
    svg = render_architecture("dev", templates())
    for text in (">Network (1 resources)<", ">Data (1 resources)<", ">1 refs<", ">dependency<", ">FSx<"):
        assert text in svg
    assert svg == render_architecture("dev", templates())
