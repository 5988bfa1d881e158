"""The ``serving`` section: which model the platform serves, and how it pays for it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from customization.problems import Problem

CUSTOM_MODEL_ARN_PATTERN = re.compile(r"^arn:aws(-[a-z]+)*:bedrock:[a-z0-9-]+:\d{12}:custom-model/\S+$")
FOUNDATION_MODEL_ID_PATTERN = re.compile(r"^[a-z0-9-]+\.[a-z0-9.-]+(:[a-z0-9-]+){0,2}$")
COMMITMENT_API_VALUES = {"none": "None", "one-month": "OneMonth", "six-months": "SixMonths"}


@dataclass(frozen=True)
class ServingConfig:
    """Serves the customized model (``model_arn``) or, until one exists, a base model: through
    provisioned throughput, or an on-demand custom model deployment (custom models only)."""

    base_model_id: str
    model_arn: str | None = None
    mode: Literal["provisioned-throughput", "on-demand"] = "provisioned-throughput"
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

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if self.model_units < 1:
            found.append(Problem("serving.model_units", self.model_units, "1 or more"))
        if self.commitment != "none" and not self.allow_commitment:
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
        if self.mode == "on-demand" and self.model_arn is None:
            found.append(
                Problem(
                    "serving.model_arn",
                    None,
                    "a custom model ARN with mode 'on-demand' (base models are on-demand already)",
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
        if self.model_source == "lineage":
            if self.model_arn is not None:
                found.append(
                    Problem("serving.model_arn", self.model_arn, "absent with model_source 'lineage' (one source)")
                )
            if self.mode != "provisioned-throughput":
                found.append(
                    Problem(
                        "serving.mode",
                        self.mode,
                        "'provisioned-throughput' with model_source 'lineage' (its base-model fallback is not a "
                        "custom model)",
                    )
                )
        if self.lineage_generation < 1:
            found.append(Problem("serving.lineage_generation", self.lineage_generation, "1 or more"))
        if not FOUNDATION_MODEL_ID_PATTERN.match(self.base_model_id):
            found.append(
                Problem("serving.base_model_id", self.base_model_id, "a Bedrock model id such as amazon.nova-lite-v1:0")
            )
        return found
