"""Runs the synthesized customization workflow offline on moto's Amazon States Language interpreter.

- :mod:`sfn_harness.definition` turns a template's state machine into runnable ASL (intrinsics resolved
  to placeholder ARNs);
- :mod:`sfn_harness.responses` builds the mocked task results, checked against botocore's output shapes;
- :mod:`sfn_harness.runner` runs one execution and returns its path, the tasks' inputs and its outcome.
"""
