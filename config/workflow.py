"""The ``workflow`` section: the customization workflow's judge, compute and serving defaults.

Per-run choices (technique, data, thresholds, deploy mode) are the workflow's input; what is
fixed for an environment (which model judges, on which instances SageMaker trains, how many
model units a deployment buys) lives here, so a run cannot pick a larger bill than config allows.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from config.sagemaker_model import sagemaker_enum
from customization.nova import profile_problem
from customization.problems import Problem

MODEL_ID_PATTERN = re.compile(r"^((us|eu|apac)\.)?[a-z0-9-]+\.[a-z0-9.-]+(:[a-z0-9-]+){0,2}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
# The judge's rubric is a file in the repository, versioned with the code; its SHA-256 goes into each run's
# evaluation report and lineage record, so a score can be traced to the rubric that produced it.
REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_RUBRIC_FILE = "config/rubrics/default.md"


def training_instance_types() -> frozenset[str]:
    """``TrainingInstanceType`` from botocore's SageMaker service model."""
    return sagemaker_enum("TrainingInstanceType")


@dataclass(frozen=True)
class EvaluationConfig:
    """How a run's evaluation scales and how much evidence its gate asks for.

    Records go to the evaluation functions in batches, ``max_concurrency`` batches at a time (a
    Distributed Map). A batch makes its model calls one after another (base and customized answers,
    one judge call grading both), so ``max_concurrency`` is the number of calls in flight, and it is
    bounded by each model's tokens-per-minute quota: the default, 10, is what the on-demand Nova Pro
    judge's default quota in us-east-1 allows (``make bench-evaluation``).
    """

    max_concurrency: int = 10
    """Batches scored at once (Distributed Map ``MaxConcurrency``)."""
    batch_size: int = 5
    """Records per batch (``ItemBatcher`` ``MaxItemsPerBatch``): four model calls each, in a 15-minute function."""
    max_records: int = 10_000
    """Records read from a dataset at most (``ItemReader`` ``MaxItems``)."""
    min_records: int = 100
    """Scored records below this fail the gate."""
    min_scored_fraction: float = 0.95
    """Scored / all records below this fail the gate; failed batches beyond it fail the run."""

    def problems(self) -> list[Problem]:
        found = []
        # The batch function reserves twice this much Lambda concurrency (two runs evaluating at once); an account's
        # default is 1,000 with at least 100 left unreserved.
        if not 1 <= self.max_concurrency <= 200:
            found.append(Problem("workflow.evaluation.max_concurrency", self.max_concurrency, "from 1 to 200"))
        if not 1 <= self.batch_size <= 20:
            found.append(Problem("workflow.evaluation.batch_size", self.batch_size, "from 1 to 20"))
        if not 1 <= self.max_records <= 100_000:
            found.append(Problem("workflow.evaluation.max_records", self.max_records, "from 1 to 100000"))
        if not 1 <= self.min_records <= self.max_records:
            found.append(Problem("workflow.evaluation.min_records", self.min_records, "from 1 to max_records"))
        if not 0.5 <= self.min_scored_fraction <= 1:
            found.append(Problem("workflow.evaluation.min_scored_fraction", self.min_scored_fraction, "from 0.5 to 1"))
        return found


@dataclass(frozen=True)
class WorkflowConfig:
    """``inference_profile_prefix`` turns a base model id into the cross-Region profile Bedrock invokes."""

    judge_model_id: str = "amazon.nova-pro-v1:0"
    judge_rubric_file: str = DEFAULT_RUBRIC_FILE
    """The judge's rubric (what a score of 1 to 5 means), a path in the repository."""
    inference_profile_prefix: Literal["", "us.", "eu.", "apac."] = ""
    training_instance_type: str = "ml.p5.48xlarge"
    max_training_hours: int = 24
    notification_email: str | None = None
    evaluation: EvaluationConfig = EvaluationConfig()

    @property
    def judge_rubric(self) -> str:
        """The rubric's text (read when needed: config stays plain data)."""
        return (REPOSITORY / self.judge_rubric_file).read_text(encoding="utf-8").strip()

    @property
    def judge_rubric_sha256(self) -> str:
        """Of the file as committed (``sha256sum`` gives the same)."""
        return hashlib.sha256((REPOSITORY / self.judge_rubric_file).read_bytes()).hexdigest()

    def problems(self, region: str | None = None) -> list[Problem]:
        """``region``: the environment's, when it names one; cross-Region profiles exist per geography."""
        found: list[Problem] = []
        if region is not None:
            found += _profile_geography_problems(region, self.inference_profile_prefix, self.judge_model_id)
        judged_by = profile_problem(self.judge_model_id, "")
        if judged_by is not None:
            found.append(
                Problem("workflow.judge_model_id", self.judge_model_id, f"its profile id, prefixed {judged_by}")
            )
        if not MODEL_ID_PATTERN.match(self.judge_model_id):
            found.append(Problem("workflow.judge_model_id", self.judge_model_id, "a Bedrock model or profile id"))
        rubric = REPOSITORY / self.judge_rubric_file
        if rubric.resolve().parent != REPOSITORY / "config" / "rubrics" or not rubric.is_file():
            found.append(
                Problem(
                    "workflow.judge_rubric_file",
                    self.judge_rubric_file,
                    f"a file in config/rubrics/, e.g. {DEFAULT_RUBRIC_FILE}",
                )
            )
        elif not 20 <= len(self.judge_rubric) <= 4000:
            found.append(
                Problem("workflow.judge_rubric_file", self.judge_rubric_file, "a rubric of 20 to 4000 characters")
            )
        if self.training_instance_type not in training_instance_types():
            found.append(
                Problem(
                    "workflow.training_instance_type",
                    self.training_instance_type,
                    "a SageMaker training instance type such as ml.p5.48xlarge",
                )
            )
        if not 1 <= self.max_training_hours <= 672:
            found.append(Problem("workflow.max_training_hours", self.max_training_hours, "from 1 to 672 (28 days)"))
        if self.notification_email is not None and not EMAIL_PATTERN.match(self.notification_email):
            found.append(Problem("workflow.notification_email", self.notification_email, "an email address"))
        return found + self.evaluation.problems()


# Cross-Region inference profiles are per geography and callable from their source Regions only
# (Bedrock user guide, "Supported Regions and models for inference profiles").
PROFILE_REGION_PREFIXES = {"us.": ("us-",), "eu.": ("eu-",), "apac.": ("ap-",)}


def profile_geography_problem(key: str, region: str, profile: str) -> Problem | None:
    """``profile`` (a prefix or a profile id) invoked from ``region``: a problem when its geography is another."""
    geography = next((p for p in PROFILE_REGION_PREFIXES if profile.startswith(p)), None)
    if geography is None or region.startswith(PROFILE_REGION_PREFIXES[geography]):
        return None
    allowed = [p for p, starts in PROFILE_REGION_PREFIXES.items() if region.startswith(starts)]
    return Problem(key, profile, f"a {' or '.join(allowed) or 'no'} profile in {region} (or no prefix)")


def _profile_geography_problems(region: str, prefix: str, judge_model_id: str) -> list[Problem]:
    checked = (("workflow.inference_profile_prefix", prefix), ("workflow.judge_model_id", judge_model_id))
    return [problem for key, profile in checked if (problem := profile_geography_problem(key, region, profile))]
