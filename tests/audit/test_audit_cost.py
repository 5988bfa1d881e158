"""Cost estimate: units counted from the templates, priced from a table that names what it lacks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from auditing.cfn import TemplateSet
from auditing.cost import estimate, render_cost
from auditing.prices import PriceError, load_price_table, parse_price_table

REPO = Path(__file__).resolve().parents[2]
URL = "https://aws.amazon.com/pricing/"


def price(usd):
    return {"usd": usd, "source": URL}


TABLE = parse_price_table(
    {
        "date": "2026-01-01",
        "region": "us-east-1",
        "hours_per_month": 730,
        "unit_prices": {
            name: price(usd)
            for name, usd in {
                "nat_gateway_hour": 0.045,
                "public_ipv4_address_hour": 0.005,
                "interface_endpoint_az_hour": 0.01,
                "eks_cluster_hour": 0.10,
                "kms_key_month": 1.0,
                "cloudwatch_alarm_month": 0.10,
                "cloudwatch_dashboard_month": 3.0,
                "sagemaker_ebs_gb_month": 0.14,
            }.items()
        },
        "fsx_lustre_persistent_2_gib_month": {125: price(0.145)},
        "hyperpod_instance_hour": {"ml.g5.12xlarge": price(7.09)},
        "bedrock_provisioned_throughput_model_unit_hour": {"amazon.nova-lite-v1:0": price(None)},
        "customization_run": {"hours": 10},
    }
)


def cluster(*groups):
    return {
        "Type": "AWS::SageMaker::Cluster",
        "Properties": {
            "InstanceGroups": [
                {"InstanceGroupName": f"g{i}", "InstanceType": t, "InstanceCount": n} for i, (t, n) in enumerate(groups)
            ]
        },
    }


def monthly(templates):
    return estimate(TemplateSet.of({"Training": {"Resources": templates}}), TABLE).idle_total


def test_two_instances_cost_twice_one():
    one = monthly({"Hp": cluster(("ml.g5.12xlarge", 1))})
    two = monthly({"Hp": cluster(("ml.g5.12xlarge", 2))})
    assert one == pytest.approx(7.09 * 730)
    assert two == pytest.approx(2 * one)


def test_an_unknown_instance_type_fails_naming_it():
    with pytest.raises(PriceError, match=r"'ml\.p4d\.24xlarge'.*hyperpod_instance_hour"):
        monthly({"Hp": cluster(("ml.p4d.24xlarge", 1))})


def test_an_unpriced_lustre_throughput_tier_fails_naming_it():
    lustre = {
        "Type": "AWS::FSx::FileSystem",
        "Properties": {
            "FileSystemType": "LUSTRE",
            "StorageCapacity": 1200,
            "LustreConfiguration": {"DeploymentType": "PERSISTENT_2", "PerUnitStorageThroughput": 250},
        },
    }
    with pytest.raises(PriceError, match="throughput 250 MB/s/TiB"):
        monthly({"Fs": lustre})


def test_idle_units_are_counted_from_the_templates():
    network = {
        "Nat": {"Type": "AWS::EC2::NatGateway"},
        "Endpoint": {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {"VpcEndpointType": "Interface", "SubnetIds": [{"Ref": "A"}, {"Ref": "B"}]},
        },
        "Gateway": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"VpcEndpointType": "Gateway"}},
        "Key": {"Type": "AWS::KMS::Key"},
    }
    # One NAT gateway for 730 h, one interface endpoint in 2 AZs for 730 h, one key; gateway endpoints are free.
    assert monthly(network) == pytest.approx(0.045 * 730 + 0.01 * 2 * 730 + 1.0)


def test_an_unset_price_is_left_out_of_the_total_and_said_so():
    serving = {
        "Model": {
            "Type": "Custom::BedrockProvisionedThroughput",
            "Properties": {
                "ModelId": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
                "ModelUnits": 1,
            },
        }
    }
    templates = TemplateSet.of({"Serving": {"Resources": serving}})
    assert estimate(templates, TABLE).idle_total == 0
    assert (
        "Not in the total (price not set in prices.yaml): Bedrock provisioned throughput amazon.nova-lite-v1:0"
        in render_cost("dev", templates, TABLE)
    )


def test_the_run_uses_the_priciest_group_for_the_configured_hours():
    run = estimate(TemplateSet.of({"T": {"Resources": {"Hp": cluster(("ml.g5.12xlarge", 2))}}}), TABLE).run
    assert run is not None
    assert run.total == pytest.approx(2 * 10 * 7.09)


def test_a_price_without_an_https_source_is_rejected():
    with pytest.raises(PriceError, match=r"hyperpod_instance_hour\.ml\.m5\.large: source"):
        parse_price_table({"date": "d", "region": "r", "hyperpod_instance_hour": {"ml.m5.large": {"usd": 1}}})


def instance_types(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "instance_type":
                yield item
            else:
                yield from instance_types(item)
    elif isinstance(value, list):
        for item in value:
            yield from instance_types(item)


def test_the_committed_price_table_prices_every_instance_type_the_configs_use():
    files = [*(REPO / "config" / "environments").glob("*.yaml"), *(REPO / "tests" / "fixtures").glob("*/*.yaml")]
    used = {t for f in files for t in instance_types(yaml.safe_load(f.read_text()))}
    table = load_price_table()
    assert used, "no instance types found: the config layout changed"
    assert sorted(t for t in used if t not in table.instance_hour) == []
    assert all(p.usd is not None for p in table.instance_hour.values())
