"""Keeps the synthesized templates clean under cfn-lint, in one pass over each written template.

aws-cdk-lib often lists a resource in ``DependsOn`` that the same resource already names in
a ``Ref`` or ``GetAtt`` (a Lambda function and its role, a log delivery and its source);
cfn-lint reports each as redundant (W3005). The stacks' synthesizer rewrites each template
without them, once it is written. The order CloudFormation deploys in does not change: a
reference is a dependency too.

Why a synthesizer and not an aspect: an aspect visits every construct and resolves the
resource's properties across the jsii bridge, which cost about 2 s of a 10 s synth of three
environments (issue 19's profile); this reads each finished template once, in Python.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk


def referenced_logical_ids(value: Any) -> set[str]:
    """Logical ids a resolved CloudFormation value names through ``Ref`` or ``Fn::GetAtt``."""
    found: set[str] = set()
    if isinstance(value, dict):
        if isinstance(value.get("Ref"), str):
            found.add(value["Ref"])
        attribute = value.get("Fn::GetAtt")
        if isinstance(attribute, list) and attribute and isinstance(attribute[0], str):
            found.add(attribute[0])
        for item in value.values():
            found |= referenced_logical_ids(item)
    elif isinstance(value, list):
        for item in value:
            found |= referenced_logical_ids(item)
    return found


def drop_redundant_depends_on(template: dict[str, Any]) -> bool:
    """Remove from each resource's ``DependsOn`` what its ``Properties`` already reference; True if any was."""
    changed = False
    for resource in template.get("Resources", {}).values():
        depends_on = resource.get("DependsOn")
        if not depends_on:
            continue
        listed = [depends_on] if isinstance(depends_on, str) else depends_on
        referenced = referenced_logical_ids(resource.get("Properties", {}))
        remaining = [logical_id for logical_id in listed if logical_id not in referenced]
        if len(remaining) == len(listed):
            continue
        changed = True
        if remaining:
            resource["DependsOn"] = remaining
        else:
            del resource["DependsOn"]
    return changed


def render_like_the_cdk(template: dict[str, Any], *, indented: bool) -> str:
    """What aws-cdk-lib writes: ``JSON.stringify(template, undefined, 1)``, or without indentation when the stack
    suppresses it (core/lib/stack.js, ``_synthesizeTemplate``). Tested to round-trip every template of the app."""
    if indented:
        return json.dumps(template, indent=1, ensure_ascii=False)
    return json.dumps(template, separators=(",", ":"), ensure_ascii=False)


class CleanTemplateSynthesizer(cdk.DefaultStackSynthesizer):
    """The default synthesizer (with the environment's bootstrap qualifier, if any) that writes the template without
    redundant ``DependsOn``. The template's asset hash is that of the bytes written, as aws-cdk-lib computes it
    (sha256 of the file, stack-synthesizers/stack-synthesizer.js ``stackTemplateFileAsset``), so what ``cdk deploy``
    and the pipeline upload is addressed by its own content."""

    def reusable_bind(self, stack: cdk.Stack) -> cdk.IBoundStackSynthesizer:
        """Bind this instance, not a copy. aws-cdk-lib binds a reusable synthesizer by ``Object.create(this)``
        (default-synthesizer.js ``reusableBind``): the copy would run the override below with this unbound
        instance as ``self``. So an instance serves one stack only, and cannot be an App's
        ``default_stack_synthesizer``: each stack gets its own (``bootstrap_synthesizer``)."""
        self.bind(stack)
        return self

    def _synthesize_template(
        self,
        session: cdk.ISynthesisSession,
        lookup_role_arn: str | None = None,
        lookup_role_external_id: str | None = None,
        lookup_role_additional_options: Any = None,
    ) -> cdk.FileAssetSource:
        source = super()._synthesize_template(
            session, lookup_role_arn, lookup_role_external_id, lookup_role_additional_options
        )
        assert source.file_name is not None  # aws-cdk-lib always names the template file
        path = Path(session.assembly.outdir) / source.file_name
        written = path.read_text(encoding="utf-8")
        template = json.loads(written)
        indented = written.startswith("{\n")
        # Python writes a few values differently from JSON.stringify (floats below 1e-6 as 1e-07, lone surrogates):
        # a template holding one keeps aws-cdk-lib's bytes, and cfn-lint's W3005 reports what was left.
        if render_like_the_cdk(template, indented=indented) != written or not drop_redundant_depends_on(template):
            return source
        cleaned = render_like_the_cdk(template, indented=indented).encode("utf-8")
        path.write_bytes(cleaned)  # the bytes hashed below, whatever the platform's newline
        return cdk.FileAssetSource(
            source_hash=hashlib.sha256(cleaned).hexdigest(),
            file_name=source.file_name,
            packaging=source.packaging,
            deploy_time=source.deploy_time,
            display_name=source.display_name,
        )
