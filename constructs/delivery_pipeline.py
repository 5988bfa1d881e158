"""A self-mutating CDK pipeline: source through CodeConnections, a synth step that tests and
audits, then one wave per environment in order: the replacement guard against what that environment runs, then a
person's approval where asked, then the deploy.

The pipeline deploys the same ``cdk.Stage`` objects a person synthesizes with ``cdk synth``,
so what reviewers read in ``audit/`` is what reaches each account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import pipelines

from constructs import Construct
from constructs.nag_acknowledgements import acknowledge, acknowledge_bucket_grants, nag_arn, nag_environment

# The commands the synth step runs: the README's test command, the audit bundle, the synth.
SYNTH_COMMANDS = ("make test", "make audit", "make synth")
# Before a stage deploys: the synthesized assembly against the templates CloudFormation holds for its stacks.
GUARD = "ReplacementGuard"
# Its own small install (requirements-guard.txt: no CDK, no Node), so a stage waits minutes less and depends on less.
GUARD_COMMANDS = (
    "python -m venv /tmp/guard",
    "/tmp/guard/bin/pip install --quiet --disable-pip-version-check -r requirements-guard.txt",
    "/tmp/guard/bin/python -m auditing.replacements --deployed {environment} --new cdk.out",
)
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0
RUNTIME_VERSIONS = {"python": "3.12", "nodejs": "20"}


@dataclass(frozen=True)
class PipelineWave:
    stage: cdk.Stage
    approval: bool = False


@dataclass(frozen=True)
class DeliveryPipelineProps:
    repository: str
    branch: str
    connection_arn: str
    cdk_cli_version: str
    waves: Sequence[PipelineWave]
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR


class DeliveryPipeline(Construct):
    """Attributes: ``pipeline`` (the built ``pipelines.CodePipeline``), ``artifact_key`` (artifacts and
    build logs) and ``audit_bundle`` (the synth step's ``audit/`` folder, kept as an artifact)."""

    def __init__(self, scope: Construct, construct_id: str, props: DeliveryPipelineProps) -> None:
        super().__init__(scope, construct_id)
        if not props.waves:
            raise ValueError("DeliveryPipeline: waves is empty; expected at least one environment Stage")
        self.artifact_key = kms.Key(
            self,
            "ArtifactKey",
            enable_key_rotation=True,
            description="Delivery pipeline artifacts, audit bundle and build logs",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        logs_principal = cdk.aws_iam.ServicePrincipal(f"logs.{cdk.Stack.of(self).region}.amazonaws.com")
        self.artifact_key.grant_encrypt_decrypt(logs_principal)
        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # S3 server access logging cannot write to SSE-KMS buckets
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        acknowledge(
            access_logs,
            "The artifact bucket's access log destination; logging it to itself would loop.",
            "AwsSolutions-S1",
        )
        acknowledge(
            access_logs,
            "S3 server access logging delivers only to buckets encrypted with SSE-S3, not SSE-KMS.",
            "NIST.800.53.R5-S3DefaultEncryptionKMS",
        )
        artifacts = s3.Bucket(
            self,
            "Artifacts",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.artifact_key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=access_logs,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        build_logs = logs.LogGroup(self, "BuildLogs", retention=props.log_retention, encryption_key=self.artifact_key)
        source = pipelines.CodePipelineSource.connection(
            props.repository, props.branch, connection_arn=props.connection_arn
        )
        synth = pipelines.CodeBuildStep(
            "Synth",
            input=source,
            commands=list(SYNTH_COMMANDS),
            primary_output_directory="cdk.out",
            partial_build_spec=codebuild.BuildSpec.from_object(
                {"phases": {"install": {"runtime-versions": RUNTIME_VERSIONS}}}
            ),
            build_environment=codebuild.BuildEnvironment(
                build_image=BUILD_IMAGE, compute_type=codebuild.ComputeType.LARGE
            ),
        )
        self.audit_bundle = synth.add_output_directory("audit")
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            synth=synth,
            artifact_bucket=artifacts,
            cli_version=props.cdk_cli_version,
            self_mutation=True,
            docker_enabled_for_synth=False,
            publish_assets_in_parallel=False,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE),
                logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=build_logs)),
            ),
        )
        assembly = synth.primary_output
        assert assembly is not None  # primary_output_directory is set
        for wave in props.waves:
            guard = self._replacement_guard(wave.stage, source, assembly)
            pre: list[pipelines.Step] = [guard]
            if wave.approval:
                approval = pipelines.ManualApprovalStep(f"Promote-{wave.stage.stage_name}")
                approval.add_step_dependency(guard)  # the approver sees the guard's verdict first
                pre.append(approval)
            self.pipeline.add_stage(wave.stage, pre=pre)
        self.pipeline.build_pipeline()
        self._acknowledge_library_grants(artifacts, access_logs)

    def _replacement_guard(
        self, stage: cdk.Stage, source: pipelines.IFileSetProducer, assembly: pipelines.FileSet
    ) -> pipelines.CodeBuildStep:
        """Fails the stage, before anything deploys, when it would delete or replace a stateful resource that the
        environment's config does not acknowledge, judged against the templates CloudFormation holds now (read as
        each account's CDK bootstrap lookup role, which is read-only)."""
        return pipelines.CodeBuildStep(
            f"{GUARD}-{stage.stage_name}",
            input=source,
            additional_inputs={"cdk.out": assembly},
            commands=[c.format(environment=stage.stage_name) for c in GUARD_COMMANDS],
            partial_build_spec=codebuild.BuildSpec.from_object(
                {"phases": {"install": {"runtime-versions": {"python": RUNTIME_VERSIONS["python"]}}}}
            ),
            role_policy_statements=[
                iam.PolicyStatement(actions=["sts:AssumeRole"], resources=sorted(set(self._lookup_roles(stage))))
            ],
        )

    def _lookup_roles(self, stage: cdk.Stage) -> list[str]:
        """The CDK bootstrap lookup role of each of the stage's stacks (its bootstrap qualifier, account and Region;
        a stack without an account or Region deploys to the pipeline's)."""
        pipeline_stack = cdk.Stack.of(self)
        roles = []
        for stack in (child for child in stage.node.children if isinstance(child, cdk.Stack)):
            synthesizer = stack.synthesizer
            qualifier = (
                synthesizer.bootstrap_qualifier if isinstance(synthesizer, cdk.DefaultStackSynthesizer) else None
            ) or cdk.DefaultStackSynthesizer.DEFAULT_QUALIFIER
            account = pipeline_stack.account if cdk.Token.is_unresolved(stack.account) else stack.account
            region = pipeline_stack.region if cdk.Token.is_unresolved(stack.region) else stack.region
            roles.append(
                pipeline_stack.format_arn(
                    service="iam",
                    region="",
                    account=account,
                    resource="role",
                    resource_name=f"cdk-{qualifier}-lookup-role-{account}-{region}",
                )
            )
        return roles

    def _acknowledge_library_grants(self, artifacts: s3.IBucket, access_logs: s3.IBucket) -> None:
        """The roles aws-cdk-lib's pipelines module makes; their statements are the library's, reviewed here."""
        acknowledge_bucket_grants(self.pipeline, [artifacts], write=True)
        stack = cdk.Stack.of(self)
        _, _, account = nag_environment(self)
        project_scoped = []
        guards = [
            c for c in self.pipeline.node.find_all() if isinstance(c, codebuild.Project) and c.node.id.startswith(GUARD)
        ]
        for project in (self.pipeline.synth_project, self.pipeline.self_mutation_project, *guards):
            name = f"<{stack.get_logical_id(project.node.default_child)}>"  # type: ignore[arg-type]
            project_scoped += [
                f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'logs', f'log-group:/aws/codebuild/{name}:*')}]",
                f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'codebuild', f'report-group/{name}-*')}]",
            ]
        acknowledge(
            self.pipeline,
            "CodeBuild writes one log stream and one report per build under its project's own log group and "
            "report-group prefix; the statements are scoped to the project's name.",
            *project_scoped,
        )
        acknowledge(
            self.pipeline.node.find_child("Assets"),
            "The asset-publishing role is shared by the asset projects the library adds as assets appear, so it "
            "is scoped to CodeBuild's log and report prefixes and may start and watch those builds.",
            f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'logs', 'log-group:/aws/codebuild/*')}]",
            f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'codebuild', 'report-group/*')}]",
            "AwsSolutions-IAM5[Resource::*]",
        )
        acknowledge(
            self.pipeline.self_mutation_project,
            "Self-mutation runs the CDK CLI: it assumes only roles tagged as CDK bootstrap roles "
            "(condition iam:ResourceTag/aws-cdk:bootstrap-role), and describes stacks and lists the bootstrap "
            "bucket, whose names are known only at deploy time.",
            f"AwsSolutions-IAM5[Resource::arn:*:iam::{account}:role/*]",
            "AwsSolutions-IAM5[Resource::*]",
        )
        acknowledge(
            self.pipeline,
            "aws-cdk-lib's pipelines module attaches each role's statements as its default policy.",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        for bucket in (artifacts, access_logs):
            acknowledge(
                bucket,
                "Pipeline artifacts and the audit bundle are rebuilt from the source repository on every run; "
                "replicating them would add nothing a re-run does not give.",
                "NIST.800.53.R5-S3BucketReplicationEnabled",
            )
