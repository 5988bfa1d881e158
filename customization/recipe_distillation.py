"""Model distillation recipes, run by Amazon Bedrock (CreateModelCustomizationJob, DISTILLATION).

The data is prompts only: the teacher writes the responses the student learns from. In the
run/training_config shape: ``run.model_type`` is the student (the model Bedrock customizes),
``training_config.teacher_model_id`` the teacher (a foundation model id, or a cross-Region
inference profile of one) and ``training_config.max_response_length`` the teacher's token
budget per response (``maxResponseLengthForInference``).
"""

from __future__ import annotations

from dataclasses import dataclass

from customization import nova
from customization.problems import Problem
from customization.recipe_sections import DistillationRun
from customization.value_rules import positive_int


@dataclass(frozen=True)
class DistillationConfig:
    """The teacher and its token budget; the student is ``run.model_type``."""

    teacher_model_id: str
    max_response_length: int


@dataclass(frozen=True)
class DistillationDocument:
    """A Bedrock distillation recipe; the teacher must be allowed to teach the student."""

    run: DistillationRun
    training_config: DistillationConfig

    def problems(self, technique: nova.Technique) -> list[Problem]:
        config = self.training_config
        found = self.run.problems()
        found += positive_int("training_config.max_response_length", config.max_response_length)
        teacher = nova.teacher_base(config.teacher_model_id)
        if teacher not in nova.DISTILLATION_STUDENTS:
            teachers = ", ".join(nova.DISTILLATION_STUDENTS)
            found.append(
                Problem(
                    "training_config.teacher_model_id",
                    config.teacher_model_id,
                    f"one of {teachers} (optionally with a us., eu. or apac. inference profile prefix)",
                )
            )
        elif (
            self.run.model_type in nova.MODEL_BASE_PATHS
            and self.run.model_type not in nova.DISTILLATION_STUDENTS[teacher]
        ):
            students = ", ".join(nova.DISTILLATION_STUDENTS[teacher])
            found.append(Problem("run.model_type", self.run.model_type, f"a student of {teacher}: {students}"))
        return found
