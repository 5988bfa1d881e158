"""The EKS cluster that orchestrates a HyperPod cluster.

Private API endpoint unless asked otherwise, every control-plane log type, secrets
encrypted with the platform key, no EKS-managed compute (HyperPod brings the nodes), and
the add-ons HyperPod expects before its nodes join.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_kms as kms

from constructs import Construct
from constructs.nag_acknowledgements import acknowledge

# EKS add-ons the HyperPod-on-EKS documentation lists as prerequisites.
REQUIRED_ADDONS = ("vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent")
ADMIN_ACCESS_POLICY = "AmazonEKSClusterAdminPolicy"


@dataclass(frozen=True)
class HyperPodEksControlPlaneProps:
    vpc: ec2.IVpc
    subnets: list[ec2.ISubnet]
    security_group: ec2.ISecurityGroup
    secrets_key: kms.IKey
    kubernetes_version: str
    endpoint_public: bool = False
    endpoint_public_cidrs: tuple[str, ...] = ()  # required with endpoint_public
    admin_role_arn: str | None = None


class HyperPodEksControlPlane(Construct):
    """Attributes ``cluster`` (an ``aws_eks_v2.Cluster``) and ``addons`` (what HyperPod must wait for);
    ``grant_admin(principal_arn)`` adds an access entry."""

    def __init__(self, scope: Construct, construct_id: str, props: HyperPodEksControlPlaneProps) -> None:
        super().__init__(scope, construct_id)
        if props.endpoint_public and not props.endpoint_public_cidrs:
            raise ValueError(
                "HyperPodEksControlPlane: endpoint_public needs endpoint_public_cidrs (EKS allows 0.0.0.0/0)"
            )
        self.cluster = eks.Cluster(
            self,
            "Cluster",
            version=eks.KubernetesVersion.of(props.kubernetes_version),
            vpc=props.vpc,
            vpc_subnets=[ec2.SubnetSelection(subnets=props.subnets)],
            security_group=props.security_group,
            endpoint_access=eks.EndpointAccess.PUBLIC_AND_PRIVATE.only_from(*props.endpoint_public_cidrs)
            if props.endpoint_public
            else eks.EndpointAccess.PRIVATE,
            cluster_logging=[
                eks.ClusterLoggingTypes.API,
                eks.ClusterLoggingTypes.AUDIT,
                eks.ClusterLoggingTypes.AUTHENTICATOR,
                eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
                eks.ClusterLoggingTypes.SCHEDULER,
            ],
            secrets_encryption_key=props.secrets_key,
            default_capacity_type=eks.DefaultCapacityType.NODEGROUP,
            default_capacity=0,
            bootstrap_cluster_creator_admin_permissions=False,
        )
        acknowledge(
            self.cluster.role,
            "EKS requires the AWS managed AmazonEKSClusterPolicy on the cluster service role.",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonEKSClusterPolicy]",
        )
        self.addons = [
            eks.Addon(
                self,
                f"Addon-{addon}",
                cluster=cast(eks.ICluster, self.cluster),
                addon_name=addon,
                preserve_on_delete=False,
            )
            for addon in REQUIRED_ADDONS
        ]
        if props.admin_role_arn is not None:
            self.grant_admin("Admin", props.admin_role_arn)

    def grant_admin(self, construct_id: str, principal_arn: str) -> None:
        self.cluster.grant_access(
            construct_id,
            principal_arn,
            [
                eks.AccessPolicy.from_access_policy_name(
                    ADMIN_ACCESS_POLICY, access_scope_type=eks.AccessScopeType.CLUSTER
                )
            ],
        )
