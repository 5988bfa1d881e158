"""The context object Lambda passes a handler, as much of it as Powertools' logger and the handlers read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LambdaContext:
    function_name: str = "customization-step"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = "0e6c2f43-6b7e-4a51-a2a8-3f5c7f2f1c11"
    remaining_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
