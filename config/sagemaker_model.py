"""Enums of botocore's SageMaker service model, the source of truth for instance types.

The model is a multi-megabyte JSON file: it is parsed once per process, whichever config
sections ask for it.
"""

from __future__ import annotations

import functools


@functools.cache
def _shapes() -> dict[str, dict[str, object]]:
    import botocore.loaders

    shapes: dict[str, dict[str, object]] = botocore.loaders.create_loader().load_service_model(
        "sagemaker", "service-2"
    )["shapes"]
    return shapes


@functools.cache
def sagemaker_enum(shape: str) -> frozenset[str]:
    """The allowed values of one enum shape, e.g. ``ClusterInstanceType``."""
    values = _shapes()[shape]["enum"]
    assert isinstance(values, list)
    return frozenset(values)
