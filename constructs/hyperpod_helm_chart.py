"""The HyperPod Helm charts, installed into the orchestrating EKS cluster at deploy time.

HyperPod on EKS needs the chart the HyperPod team publishes in the public
``aws/sagemaker-hyperpod-cli`` repository. At the pinned commit it installs: the training
operators (always), the NVIDIA, EFA and Neuron device plugins, the MPI operator, the health
monitoring agent, and the RBAC of deep health checks, job auto-restart and patching. It does not
install cert-manager, MLflow, the storage, cluster-role or team-role charts (disabled by default),
and this app disables ``namespaced-role-and-bindings`` too (its default, ``enable: false``, is a typo
for ``enabled`` and would install it). Kueue is not part of it (it comes with the task governance
add-on). The chart is not in a Helm repository and must not be copied here, so a custom resource
downloads it from the pinned commit and runs ``helm upgrade --install`` from inside the VPC (the
cluster endpoint is private), with the values below.

Values (``hyperpod_chart_values``): the health monitoring agent's Region (without it the chart picks
its image from the nodes' labels, and the cluster has no nodes when the chart is installed, so it
falls back to us-east-1's image; the official installer and the Nova sample set it), and tolerations
for the instance groups' taints on the device plugins, which are DaemonSets every GPU node needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from aws_cdk.lambda_layer_kubectl_v32 import KubectlV32Layer

from constructs import Construct
from constructs.bundled_python_code import REPO, bundled_python_code
from constructs.hyperpod_cluster import KubernetesTaint
from constructs.nag_acknowledgements import acknowledge

HANDLER_ROOT = REPO / "lambda" / "hyperpod_dependencies"
# Where the customization workflow runs Nova jobs (the public launcher's default) and the Kubernetes
# group its role is mapped to by an EKS access entry.
WORKFLOW_NAMESPACE = "default"
WORKFLOW_GROUP = "nova-customization-workflow"
EKS_ACCESS = REPO / "lambda" / "eks_access" / "eks_access"
ADMIN_ACCESS_POLICY = "AmazonEKSClusterAdminPolicy"


@dataclass(frozen=True)
class HelmChartSource:
    """A chart folder at one commit of a public GitHub repository."""

    repository: str
    commit: str
    path: str
    release: str
    namespace: str = "kube-system"


# Both charts from one commit: tag v2.2.0 of aws/sagemaker-hyperpod-cli (release_v2, 2025-12-02). The RIG chart and
# install_rig_dependencies.sh (whose steps lambda/hyperpod_dependencies/hyperpod_dependencies/rig.py carries out) live
# on release_v2 only; main dropped them in July 2025. The official installers (aws/sagemaker-hyperpod-cluster-setup,
# awslabs/awsome-distributed-training) and the Nova documentation take both from one release_v2 commit too.
HYPERPOD_CLI = "https://github.com/aws/sagemaker-hyperpod-cli"
HYPERPOD_CHART_COMMIT = "9774c58375f8ccaf389035d77c43133f7e13adc1"
HYPERPOD_CHART = HelmChartSource(
    repository=HYPERPOD_CLI,
    commit=HYPERPOD_CHART_COMMIT,
    path="helm_chart/HyperPodHelmChart",
    release="hyperpod-dependencies",
)
HYPERPOD_RIG_CHART = HelmChartSource(
    repository=HYPERPOD_CLI,
    commit=HYPERPOD_CHART_COMMIT,
    path="helm_chart/HyperPodHelmChartForRIG",
    release="rig-dependencies",
)
# The device plugins' own tolerations at that commit (helm_chart/HyperPodHelmChart/values.yaml): setting the list
# replaces them, so they are kept and the instance groups' taints added.
NODE_HEALTH_TOLERATION = {
    "key": "sagemaker.amazonaws.com/node-health-status",
    "operator": "Equal",
    "value": "Unschedulable",
    "effect": "NoSchedule",
}
DEVICE_PLUGIN_TOLERATIONS: Mapping[str, tuple[Mapping[str, str], ...]] = {
    "nvidia-device-plugin": (
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        NODE_HEALTH_TOLERATION,
    ),
    "aws-efa-k8s-device-plugin": (
        {"key": "CriticalAddonsOnly", "operator": "Exists"},
        {"key": "aws.amazon.com/efa", "operator": "Exists", "effect": "NoSchedule"},
        NODE_HEALTH_TOLERATION,
    ),
}


def hyperpod_chart_values(region: str, taints: Sequence[KubernetesTaint]) -> dict[str, Any]:
    """The standard chart's values for this cluster (see the module docstring)."""
    added = [
        {"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect}
        if t.value is not None
        else {"key": t.key, "operator": "Exists", "effect": t.effect}
        for t in dict.fromkeys(taints)
    ]
    values: dict[str, Any] = {
        "health-monitoring-agent": {"region": region},
        "namespaced-role-and-bindings": {"enabled": False},
    }
    for chart, defaults in DEVICE_PLUGIN_TOLERATIONS.items():
        values[chart] = {"tolerations": [dict(t) for t in defaults] + [t for t in added if t not in defaults]}
    return values


@dataclass(frozen=True)
class NovaJobTarget:
    """Where the customization workflow submits Nova jobs: the cluster, the namespace and group the
    workflow access grants, and the restricted group's instance type and node count."""

    cluster: eks.ICluster
    namespace: str
    group: str
    instance_type: str
    max_nodes: int


@dataclass(frozen=True)
class HyperPodHelmChartProps:
    cluster: eks.Cluster
    vpc: ec2.IVpc
    subnets: list[ec2.ISubnet]
    security_group: ec2.ISecurityGroup
    log_key: kms.IKey
    log_retention: logs.RetentionDays
    values: Mapping[str, Any] = field(default_factory=dict)
    source: HelmChartSource = HYPERPOD_CHART


class HyperPodHelmChart(Construct):
    """Attributes ``resource`` (the standard chart) and, once added, ``rig_resource``: the HyperPod
    cluster must depend on both."""

    def __init__(self, scope: Construct, construct_id: str, props: HyperPodHelmChartProps) -> None:
        super().__init__(scope, construct_id)
        placement = ec2.SubnetSelection(subnets=props.subnets)
        handler_logs = logs.LogGroup(self, "InstallerLogs", retention=props.log_retention, encryption_key=props.log_key)
        installer = lambda_.Function(
            self,
            "Installer",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="hyperpod_dependencies.handler.on_event",
            code=bundled_python_code(HANDLER_ROOT, {"eks_access": EKS_ACCESS}),
            layers=[KubectlV32Layer(self, "KubectlLayer")],
            timeout=cdk.Duration.minutes(14),
            memory_size=1024,
            ephemeral_storage_size=cdk.Size.gibibytes(2),
            vpc=props.vpc,
            vpc_subnets=placement,
            security_groups=[props.security_group],
            log_group=handler_logs,
            reserved_concurrent_executions=1,
            description="Installs the HyperPod Helm chart from a pinned commit",
        )
        installer.add_to_role_policy(
            iam.PolicyStatement(actions=["eks:DescribeCluster"], resources=[props.cluster.cluster_arn])
        )
        access = eks.AccessEntry(
            self,
            "InstallerAccess",
            cluster=props.cluster,  # type: ignore[arg-type]
            principal=installer.role.role_arn,  # type: ignore[union-attr]
            access_policies=[
                eks.AccessPolicy.from_access_policy_name(
                    ADMIN_ACCESS_POLICY, access_scope_type=eks.AccessScopeType.CLUSTER
                )
            ],
        )
        provider_logs = logs.LogGroup(self, "ProviderLogs", retention=props.log_retention, encryption_key=props.log_key)
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=installer,
            log_group=provider_logs,
            vpc=props.vpc,
            vpc_subnets=placement,
            security_groups=[props.security_group],
        )
        source = props.source
        self._provider = provider
        self._standard_release = source.release
        # One JSON string: CloudFormation hands custom resources every scalar as a string, so a false inside an
        # object would reach Helm as "false", which a chart condition takes for true.
        values = cdk.Stack.of(self).to_json_string(dict(props.values))
        self._standard_inputs = {"ChartCommit": source.commit, "Values": values}
        self._cluster_name = props.cluster.cluster_name
        self.rig_resource: cdk.CustomResource | None = None
        self.resource = cdk.CustomResource(
            self,
            "Release",
            service_token=provider.service_token,
            resource_type="Custom::HyperPodHelmChart",
            properties={
                "ClusterName": props.cluster.cluster_name,
                "ChartRepository": source.repository,
                "ChartCommit": source.commit,
                "ChartPath": source.path,
                "Release": source.release,
                "Namespace": source.namespace,
                "Values": values,
            },
        )
        self.resource.node.add_dependency(access)
        self._acknowledge(installer, provider)

    def add_restricted_instance_group_dependencies(
        self, supported_regions: Sequence[str], source: HelmChartSource = HYPERPOD_RIG_CHART
    ) -> cdk.CustomResource:
        """The RIG chart and patches, after the standard chart (they patch its objects)."""
        if self.rig_resource is not None:
            raise ValueError("HyperPodHelmChart: restricted instance group dependencies are already added")
        if not supported_regions:
            raise ValueError("HyperPodHelmChart: supported_regions is empty; expected the regions RIGs run in")
        self.rig_resource = cdk.CustomResource(
            self,
            "RigDependencies",
            service_token=self._provider.service_token,
            resource_type="Custom::HyperPodRigDependencies",
            properties={
                "ClusterName": self._cluster_name,
                "ChartRepository": source.repository,
                "ChartCommit": source.commit,
                "ChartPath": source.path,
                "Release": source.release,
                "Namespace": source.namespace,
                "StandardRelease": self._standard_release,
                # Not read by the handler: an upgrade of the standard chart drops the RIG patches of its objects, so
                # whatever changes it changes this resource too, and its update (after the chart's) patches again.
                "StandardChart": self._standard_inputs,
                "SupportedRegions": list(supported_regions),
            },
        )
        self.rig_resource.node.add_dependency(self.resource)
        return self.rig_resource

    def add_workflow_access(self, namespace: str, group: str) -> cdk.CustomResource:
        """A Role in ``namespace`` for Kubernetes group ``group``: what the customization workflow's jobs need."""
        access = cdk.CustomResource(
            self,
            "WorkflowAccess",
            service_token=self._provider.service_token,
            resource_type="Custom::HyperPodWorkflowAccess",
            properties={"ClusterName": self._cluster_name, "Namespace": namespace, "Group": group},
        )
        access.node.add_dependency(self.resource)
        return access

    def _acknowledge(self, installer: lambda_.Function, provider: cr.Provider) -> None:
        managed = "arn:<AWS::Partition>:iam::aws:policy/service-role"
        acknowledge(
            installer,
            "Lambda in a VPC needs the AWS managed basic and VPC access execution policies (logs, ENIs).",
            f"AwsSolutions-IAM4[Policy::{managed}/AWSLambdaBasicExecutionRole]",
            f"AwsSolutions-IAM4[Policy::{managed}/AWSLambdaVPCAccessExecutionRole]",
        )
        acknowledge(
            installer,
            "Runs once per deployment, invoked by the custom resource provider: no dead-letter queue applies.",
            "NIST.800.53.R5-LambdaDLQ",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        acknowledge(
            provider,
            "aws-cdk-lib's custom resource provider framework: its runtime, managed execution policies and the "
            "invoke permission on the installer's versions are the library's.",
            f"AwsSolutions-IAM4[Policy::{managed}/AWSLambdaBasicExecutionRole]",
            f"AwsSolutions-IAM4[Policy::{managed}/AWSLambdaVPCAccessExecutionRole]",
            "AwsSolutions-L1",
            f"AwsSolutions-IAM5[Resource::<{cdk.Stack.of(self).get_logical_id(installer.node.default_child)}.Arn>:*]",  # type: ignore[arg-type]
            "NIST.800.53.R5-LambdaDLQ",
            "NIST.800.53.R5-LambdaConcurrency",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
