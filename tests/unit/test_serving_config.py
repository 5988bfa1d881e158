"""The serving section: bad values fail synth with the field, the value and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from config.loader import ConfigError, parse_environment

BASE: dict[str, Any] = {"name": "qa", "tags": {"environment": "qa", "owner": "o", "cost_center": "c"}}
SERVING = {"base_model_id": "amazon.nova-lite-v1:0"}


def error_for(**serving: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_environment({**BASE, "serving": {**SERVING, **serving}}, "qa", "environments/qa.yaml")
    return str(caught.value)


def test_defaults_serve_the_base_model_on_demand_with_nothing_bought():
    config = parse_environment({**BASE, "serving": SERVING}, "qa", "environments/qa.yaml").serving
    assert (config.mode, config.model_arn, config.model_source) == ("on-demand", None, "config")


def test_model_units_below_one_are_rejected():
    assert "serving.model_units: 0 is not allowed; expected 1 or more" in error_for(model_units=0)


def test_commitment_needs_the_environment_to_allow_it():
    message = error_for(commitment="six-months", mode="provisioned-throughput", model_source="lineage")
    assert "serving.commitment: 'six-months' is not allowed; expected 'none' unless serving.allow_commitment" in message


def test_commitment_is_only_for_a_throughput():
    message = error_for(commitment="one-month", allow_commitment=True)
    assert "serving.commitment: 'one-month' is not allowed; expected 'none' unless serving.mode is" in message


def test_commitment_is_accepted_where_allowed():
    raw = {
        **BASE,
        "serving": {
            **SERVING,
            "commitment": "one-month",
            "allow_commitment": True,
            "mode": "provisioned-throughput",
            "model_source": "lineage",
        },
        "workflow": {},
    }
    assert parse_environment(raw, "qa", "environments/qa.yaml").serving.commitment_duration == "OneMonth"


def test_malformed_model_arn_is_rejected():
    message = error_for(model_arn="arn:aws:s3:::not-a-model")
    assert (
        "serving.model_arn: 'arn:aws:s3:::not-a-model' is not allowed; expected a Bedrock custom model ARN" in message
    )


def test_unknown_commitment_is_rejected():
    assert "serving.commitment: 'forever' is not allowed; expected one of 'none', 'one-month'" in error_for(
        commitment="forever"
    )


def test_a_throughput_is_never_bought_for_a_base_model():
    """Bedrock would never let it move to a customized model later, and sells base-model throughput only for
    context-length variants in few Regions."""
    message = error_for(mode="provisioned-throughput")
    assert "serving.mode: 'provisioned-throughput' is not allowed; expected 'on-demand' without a customized" in message


@pytest.mark.parametrize(
    "source", [{"model_source": "lineage"}, {"model_arn": "arn:aws:bedrock:eu-west-1:111111111111:custom-model/a/b"}]
)
def test_a_throughput_is_bought_for_a_customized_model(source):
    raw = {**BASE, "serving": {**SERVING, "mode": "provisioned-throughput", **source}, "workflow": {}}
    assert parse_environment(raw, "qa", "environments/qa.yaml").serving.mode == "provisioned-throughput"


def test_the_base_model_is_its_on_demand_id_not_a_context_length_variant():
    message = error_for(base_model_id="amazon.nova-lite-v1:0:300k")
    assert "serving.base_model_id: 'amazon.nova-lite-v1:0:300k' is not allowed; expected an on-demand" in message


def test_an_inference_profile_must_serve_the_environments_geography():
    raw = {
        **BASE,
        "account": "111111111111",
        "region": "eu-west-1",
        "serving": {**SERVING, "inference_profile_prefix": "us."},
    }
    with pytest.raises(ConfigError, match=r"serving.inference_profile_prefix: 'us.' is not allowed; expected a eu."):
        parse_environment(raw, "qa", "environments/qa.yaml")


def test_expiry_needs_a_throughput_without_commitment():
    message = error_for(
        expire_after_hours=8, commitment="one-month", allow_commitment=True, mode="provisioned-throughput"
    )
    assert (
        "serving.expire_after_hours: 8 is not allowed; expected 1 or more, only for provisioned throughput" in message
    )


def test_lineage_source_needs_a_workflow_section():
    message = error_for(model_source="lineage")
    assert (
        "serving.model_source: 'lineage' is not allowed; expected 'config' unless a workflow section exists" in message
    )


def test_lineage_source_is_accepted_with_a_workflow():
    raw = {**BASE, "serving": {**SERVING, "model_source": "lineage"}, "workflow": {}}
    assert parse_environment(raw, "qa", "environments/qa.yaml").serving.model_source == "lineage"


def test_lineage_source_takes_no_model_arn():
    arn = "arn:aws:bedrock:eu-west-1:111111111111:custom-model/amazon.nova-lite-v1:0:300k/abc"
    message = error_for(model_source="lineage", model_arn=arn, lineage_generation=0)
    assert f"serving.model_arn: {arn!r} is not allowed; expected absent with model_source 'lineage'" in message
    assert "serving.lineage_generation: 0 is not allowed; expected 1 or more" in message


def test_a_base_model_served_only_through_a_profile_needs_one():
    message = error_for(base_model_id="amazon.nova-2-lite-v1:0")
    assert (
        "serving.inference_profile_prefix: '' is not allowed; expected us.: Bedrock serves amazon.nova-2-lite-v1:0 "
        "on demand only through cross-Region profiles" in message
    )
    raw = {
        **BASE,
        "serving": {**SERVING, "base_model_id": "amazon.nova-2-lite-v1:0", "inference_profile_prefix": "us."},
    }
    assert parse_environment(raw, "qa", "environments/qa.yaml").serving.inference_profile_prefix == "us."
