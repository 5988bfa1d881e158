"""Evaluation recipes: a built-in benchmark (mmlu), your own data (gen_qa) or LLM-as-a-judge.

``evaluation.{task, strategy, metric}`` must be a combination Nova accepts (see
``nova.EVALUATION_TASKS``); ``inference`` holds the decoding settings the evaluated model
answers with.
"""

from __future__ import annotations

from dataclasses import dataclass

from customization import nova
from customization.problems import Problem
from customization.recipe_sections import Run
from customization.value_rules import non_negative, non_negative_int, positive_int


@dataclass(frozen=True)
class Evaluation:
    task: str
    strategy: str
    metric: str
    subtask: str = ""

    def problems(self) -> list[Problem]:
        if self.task not in nova.EVALUATION_TASKS:
            return [Problem("evaluation.task", self.task, "one of " + ", ".join(nova.EVALUATION_TASKS))]
        strategies, metrics, _ = nova.EVALUATION_TASKS[self.task]
        found = []
        if self.strategy not in strategies:
            found.append(
                Problem("evaluation.strategy", self.strategy, f"one of {', '.join(strategies)} for {self.task}")
            )
        if self.metric not in metrics:
            found.append(Problem("evaluation.metric", self.metric, f"one of {', '.join(metrics)} for {self.task}"))
        return found


@dataclass(frozen=True)
class Inference:
    """Decoding settings; ``temperature: 0`` makes scores repeatable."""

    temperature: float
    top_k: int
    top_p: float
    top_logprobs: int = 0
    max_new_tokens: int | None = None

    def problems(self) -> list[Problem]:
        found = [
            *non_negative("inference.temperature", self.temperature),
            *non_negative_int("inference.top_logprobs", self.top_logprobs),
        ]
        if self.top_k != -1 and self.top_k < 1:
            found.append(Problem("inference.top_k", self.top_k, "-1 (no limit) or a positive integer"))
        if not 0 < self.top_p <= 1:
            found.append(Problem("inference.top_p", self.top_p, "a number > 0 and <= 1"))
        if self.max_new_tokens is not None:
            found += positive_int("inference.max_new_tokens", self.max_new_tokens)
        return found


@dataclass(frozen=True)
class EvaluationDocument:
    """An evaluation recipe; a benchmark brings its own data, the other tasks need ``data_s3_path``."""

    run: Run
    evaluation: Evaluation
    inference: Inference

    def problems(self, technique: nova.Technique) -> list[Problem]:
        found = [*self.run.problems(), *self.evaluation.problems(), *self.inference.problems()]
        if not self.takes_data and self.run.data_s3_path:
            found.append(
                Problem(
                    "run.data_s3_path", self.run.data_s3_path, f'"" ({self.evaluation.task} is a built-in benchmark)'
                )
            )
        return found

    @property
    def takes_data(self) -> bool:
        return self.evaluation.task in nova.EVALUATION_TASKS and nova.EVALUATION_TASKS[self.evaluation.task][2]
