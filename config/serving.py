"""The ``serving`` section: which model the platform serves, and how it pays for it.

A base model is always served on demand (its model id, or a cross-Region inference profile): nothing
is bought for it, so an environment that serves no customized model bills nothing while idle. A
customized model gets a resource of its own: an on-demand custom model deployment (billed per use, the
default) or a provisioned throughput bought for it (billed by the hour). A throughput is never bought
for a base model and later moved to a custom model: Bedrock refuses that move
(UpdateProvisionedModelThroughput: ``desiredModelId`` "can't be specified if this Provisioned
Throughput is associated with a base model"), and base-model throughput needs a context-length variant
sold in few Regions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from config.workflow import profile_geography_problem
from customization.nova import profile_problem
from customization.problems import Problem

CUSTOM_MODEL_ARN_PATTERN = re.compile(r"^arn:aws(-[a-z]+)*:bedrock:[a-z0-9-]+:\d{12}:custom-model/\S+$")
# An on-demand model id: provider.model:version, no context-length variant (":300k" is for throughput and
# customization only; Converse refuses it: Bedrock user guide, "Supported foundation models").
ON_DEMAND_MODEL_ID_PATTERN = re.compile(r"^[a-z0-9-]+\.[a-z0-9.-]+:\d+$")
COMMITMENT_API_VALUES = {"none": "None", "one-month": "OneMonth", "six-months": "SixMonths"}


@dataclass(frozen=True)
class ServingConfig:
    """Serves the customized model (``model_arn``, or the newest the workflow approved with ``model_source:
    lineage``) and, until one exists, ``base_model_id`` on demand."""

    base_model_id: str
    inference_profile_prefix: Literal["", "us.", "eu.", "apac."] = ""
    """Serve the base model through its cross-Region inference profile (``us.``, ...): more throughput per
    account, and the model where the Region has no in-Region on-demand offer."""
    model_arn: str | None = None
    mode: Literal["on-demand", "provisioned-throughput"] = "on-demand"
    """How a customized model is served: an on-demand custom model deployment (LoRA-style models only: Bedrock
    serves no full-rank model on demand) or a provisioned throughput bought for it."""
    model_units: int = 1
    commitment: Literal["none", "one-month", "six-months"] = "none"
    allow_commitment: bool = False
    expire_after_hours: int | None = None
    # "lineage": the newest model the workflow approved (needs a workflow section), base model until then.
    model_source: Literal["config", "lineage"] = "config"
    lineage_generation: int = 1

    @property
    def commitment_duration(self) -> str:
        """The API's value: ``None``, ``OneMonth`` or ``SixMonths``."""
        return COMMITMENT_API_VALUES[self.commitment]

    @property
    def serves_customized_model(self) -> bool:
        """Whether a customized model may be served (one is named, or the workflow's lineage may have one)."""
        return self.model_arn is not None or self.model_source == "lineage"

    def problems(self, region: str | None = None) -> list[Problem]:
        """``region``: the environment's, when it names one (inference profiles exist per geography)."""
        found: list[Problem] = []
        if self.model_units < 1:
            found.append(Problem("serving.model_units", self.model_units, "1 or more"))
        if "embed" in self.base_model_id.lower():
            # The agent converses with the served model; an embedding model answers no Converse call.
            found.append(
                Problem("serving.base_model_id", self.base_model_id, "a text-generation model (not an embedding model)")
            )
        if self.commitment != "none" and self.mode != "provisioned-throughput":
            found.append(
                Problem("serving.commitment", self.commitment, "'none' unless serving.mode is 'provisioned-throughput'")
            )
        elif self.commitment != "none" and not self.allow_commitment:
            found.append(
                Problem(
                    "serving.commitment",
                    self.commitment,
                    "'none' unless serving.allow_commitment is true for this environment",
                )
            )
        if self.model_arn is not None and not CUSTOM_MODEL_ARN_PATTERN.match(self.model_arn):
            found.append(
                Problem(
                    "serving.model_arn",
                    self.model_arn,
                    "a Bedrock custom model ARN (arn:aws:bedrock:<region>:<account>:custom-model/...)",
                )
            )
        if self.mode == "provisioned-throughput" and not self.serves_customized_model:
            found.append(
                Problem(
                    "serving.mode",
                    self.mode,
                    "'on-demand' without a customized model (serving.model_arn or model_source 'lineage'): a base "
                    "model is served on demand, and no throughput is bought for it",
                )
            )
        if self.expire_after_hours is not None and (
            self.expire_after_hours < 1 or self.commitment != "none" or self.mode != "provisioned-throughput"
        ):
            found.append(
                Problem(
                    "serving.expire_after_hours",
                    self.expire_after_hours,
                    "1 or more, only for provisioned throughput with commitment 'none'",
                )
            )
        if self.model_source == "lineage" and self.model_arn is not None:
            found.append(
                Problem("serving.model_arn", self.model_arn, "absent with model_source 'lineage' (one source)")
            )
        if self.lineage_generation < 1:
            found.append(Problem("serving.lineage_generation", self.lineage_generation, "1 or more"))
        if not ON_DEMAND_MODEL_ID_PATTERN.match(self.base_model_id):
            found.append(
                Problem(
                    "serving.base_model_id",
                    self.base_model_id,
                    "an on-demand Bedrock model id such as amazon.nova-lite-v1:0 (no context length such as :300k)",
                )
            )
        prefix = self.inference_profile_prefix
        invokable = profile_problem(self.base_model_id, prefix)
        if invokable is not None:
            found.append(Problem("serving.inference_profile_prefix", prefix, invokable))
        geography = profile_geography_problem("serving.inference_profile_prefix", region, prefix) if region else None
        if geography is not None:
            found.append(geography)
        return found
