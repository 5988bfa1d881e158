"""Stand-ins for Bedrock and S3 that the evaluation's tests and its benchmark (``bench/evaluation.py``) share:
deterministic answers and grades, and objects in memory whose calls are checked against botocore's models.
Not a test module (pytest collects ``test_*`` only)."""

from __future__ import annotations

import hashlib
import io
import json

import boto3
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from model_evaluation.dataset import EvaluationRecord
from model_evaluation.judge import JudgeReplyError, Verdict
from model_evaluation.record_scoring import Scorer


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}}, "Converse")


def dataset(count: int) -> list[EvaluationRecord]:
    return [EvaluationRecord(f"r{i}", f"question {i}", f"answer {i}") for i in range(count)]


class FakeBedrock:
    """Answers: the customized model right on ``right`` of records, the base on half; throttled or broken
    replies on the records named, as the client would raise them once its retries are spent."""

    def __init__(self, *, right: float, throttled: set[str] = frozenset(), unparsable: set[str] = frozenset()):
        self.right, self.throttled, self.unparsable = right, throttled, unparsable
        self.calls = 0
        self.waits: list[float] = []  # the scorer's patient waits, recorded instead of slept

    def scorer(self) -> Scorer:
        def answer(name: str, record: EvaluationRecord) -> str:
            self.calls += 1
            if record.id in self.throttled and name == "customized":
                raise client_error("ThrottlingException")
            index = int(record.id[1:])
            share = self.right if name == "customized" else 0.5
            return record.reference if (index * 7919 % 100) / 100 < share else "something else"

        def grade(record: EvaluationRecord, answers: dict[str, str]) -> dict[str, Verdict]:
            self.calls += 1
            if record.id in self.unparsable:
                raise JudgeReplyError("judge reply: 'I think it is fine' is not allowed; expected a JSON object")
            return {
                name: Verdict(5 if output == record.reference else 2, "compared with the reference")
                for name, output in answers.items()
            }

        return Scorer(answer=answer, grade=grade, sleep=self.waits.append)


KEYS = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}


class FakeS3:
    """Objects in memory, with the calls' parameters checked against botocore's S3 model."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self._model = boto3.client("s3", **KEYS)

    def put_object(self, **params) -> dict:
        self._model.meta.service_model.operation_model("PutObject")  # the operation exists
        assert set(params) <= {"Bucket", "Key", "Body", "ContentType"}
        self.objects[(params["Bucket"], params["Key"])] = params["Body"]
        return {}

    def get_object(self, *, Bucket: str, Key: str) -> dict:  # noqa: N803 - boto3's parameter names
        if (Bucket, Key) not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "no"}}, "GetObject")
        body = self.objects[(Bucket, Key)]
        return {"Body": StreamingBody(io.BytesIO(body), len(body)), "VersionId": self.version(Bucket, Key)}

    def version(self, bucket: str, key: str) -> str:
        """The object's version as a versioned bucket names it: changes with its bytes."""
        return "v" + hashlib.sha256(self.objects[(bucket, key)]).hexdigest()[:12]

    def download_file(self, bucket: str, key: str, path: str) -> None:
        with open(path, "wb") as file:
            file.write(self.objects[(bucket, key)])

    def head_object(self, *, Bucket: str, Key: str) -> dict:  # noqa: N803 - boto3's parameter names
        if (Bucket, Key) not in self.objects:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")
        return {"ContentLength": len(self.objects[(Bucket, Key)])}

    def json(self, bucket: str, key: str):
        return json.loads(self.objects[(bucket, key)])


BATCH_INPUT = {
    "run_id": "run-1",
    "candidates": {"base": {"model_id": "amazon.nova-lite-v1:0"}, "customized": {"model_id": "arn:custom"}},
    "judge": {"model_id": "amazon.nova-pro-v1:0", "rubric": "5 right, 1 wrong"},
    "results_uri": "s3://acme-artifacts/runs/run-1/output/evaluation/",
    "cache_uri": "s3://acme-artifacts/evaluation-cache/base-answers/",
}


def items(count: int) -> list[dict]:
    return [{"id": r.id, "prompt": r.prompt, "reference": r.reference} for r in dataset(count)]
