"""IAM statements of the customization workflow that no aws-cdk-lib grant writes, in one place."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam

from customization.contract import ENVIRONMENT_TAG, PUBLIC_HUB

# What SageMaker needs to place a training job's network interfaces in the VPC.
TRAINING_VPC_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
]
IMAGE_PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
TRAINING_LOG_ACTIONS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]


def training_job_statements(stack: cdk.Stack) -> list[iam.PolicyStatement]:
    """A training job's image pull, logs, metrics and VPC access (its data access comes from bucket grants)."""
    return [
        iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]),
        iam.PolicyStatement(
            actions=IMAGE_PULL_ACTIONS,
            resources=[stack.format_arn(service="ecr", account="*", resource="repository", resource_name="*")],
        ),
        iam.PolicyStatement(
            actions=TRAINING_LOG_ACTIONS,
            resources=[
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name="/aws/sagemaker/TrainingJobs:*",
                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        ),
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}},
        ),
        iam.PolicyStatement(actions=TRAINING_VPC_ACTIONS, resources=["*"]),
    ]


# The workflow's steps: what each Lambda function calls beyond its bucket, key and table grants.
HUB_READ_ACTIONS = ["sagemaker:DescribeHubContent"]
CUSTOMIZATION_START_ACTIONS = ["bedrock:CreateModelCustomizationJob", "bedrock:GetModelCustomizationJob"]
TRAINING_STOP_ACTIONS = ["sagemaker:StopTrainingJob"]
# What the clean-up looks up before stopping or deleting what it knows only by name (the job it planned, the model an
# import may not have made): reads, unconditioned, since a resource that does not exist carries no tag to match.
CLEAN_UP_LOOKUP_ACTIONS = {
    "training-job": ["sagemaker:DescribeTrainingJob"],
    "imported-model": ["bedrock:GetImportedModel"],
}
BEDROCK_CLEAN_UP_ACTIONS = [
    "bedrock:StopModelCustomizationJob",
    "bedrock:DeleteCustomModelDeployment",
    "bedrock:DeleteCustomModel",
    "bedrock:DeleteImportedModel",
    "bedrock:DeleteProvisionedModelThroughput",
]
MODEL_INVOKE_ACTIONS = ["bedrock:InvokeModel"]
CLUSTER_READ_ACTIONS = ["eks:DescribeCluster"]
# Bedrock encrypts a custom or imported model with a customer managed key on the caller's behalf.
MODEL_KEY_GRANT_ACTIONS = ["kms:CreateGrant"]
MODEL_KEY_USE_ACTIONS = ["kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey"]


def bedrock_arn(stack: cdk.Stack, resource: str, account: str | None = None) -> str:
    """Every Bedrock ``resource`` (``custom-model``, ...) of this account and Region (``account=""``: AWS-owned)."""
    return stack.format_arn(service="bedrock", account=account, resource=resource, resource_name="*")


def public_hub_arns(stack: cdk.Stack) -> list[str]:
    """The SageMaker public hub and its content (``arn:...:sagemaker:<region>:aws:hub-content/SageMakerPublicHub/...``):
    DescribeHubContent's resource types are hub and hub-content, and the public hub's owner is the account ``aws``."""
    return [
        stack.format_arn(service="sagemaker", account="aws", resource="hub", resource_name=PUBLIC_HUB),
        stack.format_arn(service="sagemaker", account="aws", resource="hub-content", resource_name=f"{PUBLIC_HUB}/*"),
    ]


# What the workflow creates carries its environment's tag (ENVIRONMENT_TAG), and what it stops or deletes must carry
# it. Every one of these actions' resource types takes aws:ResourceTag/${TagKey}, and every Create* the workflow calls
# takes aws:RequestTag/${TagKey} (Service Authorization Reference, Amazon Bedrock and Amazon SageMaker AI).
TAGGED_RUN_RESOURCES = [
    "model-customization-job",
    "custom-model",
    "model-import-job",
    "imported-model",
    "custom-model-deployment",
    "provisioned-model",
]
# Tagging at creation: aws-cdk-lib's BedrockCreateModelCustomizationJob grants bedrock:TagResource with the call
# (aws-stepfunctions-tasks/lib/bedrock/create-model-customization-job), and CreateTrainingJob lists sagemaker:AddTags
# as a dependent action (Service Authorization Reference); aws-cdk-lib's SageMakerCreateTrainingJob grants that one.
TAG_ON_CREATE_ACTIONS = ["bedrock:TagResource"]
# Everything the workflow's roles may stop or delete.
STOP_AND_DELETE_ACTIONS = TRAINING_STOP_ACTIONS + BEDROCK_CLEAN_UP_ACTIONS


def own_environment(environment: str, *, tag: str = "ResourceTag") -> dict[str, dict[str, str]]:
    """The condition that a resource (``ResourceTag``) or a request (``RequestTag``) carries this environment's tag."""
    return {"StringEquals": {f"aws:{tag}/{ENVIRONMENT_TAG}": environment}}


def tag_on_create_statement(stack: cdk.Stack, environment: str, resources: list[str]) -> iam.PolicyStatement:
    """Tag what a Create* call makes (Bedrock ``resources`` types), with this environment's tag only."""
    return iam.PolicyStatement(
        actions=TAG_ON_CREATE_ACTIONS,
        resources=[bedrock_arn(stack, kind) for kind in resources],
        conditions=own_environment(environment, tag="RequestTag"),
    )


# What could take another environment's resource over without deleting it: re-tagging it as this environment's
# (then deleting it), or pointing its throughput or deployment at another model.
RETAG_AND_UPDATE_ACTIONS = [
    "bedrock:TagResource",
    "bedrock:UntagResource",
    "bedrock:UpdateProvisionedModelThroughput",
    "bedrock:UpdateCustomModelDeployment",
]


def other_environments_denied(stack: cdk.Stack, environment: str) -> list[iam.PolicyStatement]:
    """Whatever else a role is granted (aws-cdk-lib writes the state machine's own Stop and Delete grants):
    - it may not stop or delete a job, model, deployment or throughput without this environment's tag; an untagged
      one (made by hand, or before tagging) is refused as well, since StringNotEquals matches a missing key (IAM user
      guide, "Condition operators": negated operators and missing keys);
    - it may not re-tag or update one that carries another environment's tag (``Null`` false: a resource being
      created has no tags yet, so tagging at creation stays allowed), nor remove the environment tag from any."""
    resources = [stack.format_arn(service="sagemaker", resource="training-job", resource_name="*")] + [
        bedrock_arn(stack, kind) for kind in TAGGED_RUN_RESOURCES if kind != "model-import-job"
    ]
    resource_tag = f"aws:ResourceTag/{ENVIRONMENT_TAG}"
    return [
        iam.PolicyStatement(
            effect=iam.Effect.DENY,
            actions=STOP_AND_DELETE_ACTIONS,
            resources=resources,
            conditions={"StringNotEquals": {resource_tag: environment}},
        ),
        iam.PolicyStatement(
            effect=iam.Effect.DENY,
            actions=RETAG_AND_UPDATE_ACTIONS,
            resources=resources,
            conditions={"StringNotEquals": {resource_tag: environment}, "Null": {resource_tag: "false"}},
        ),
        iam.PolicyStatement(
            effect=iam.Effect.DENY,
            actions=["bedrock:UntagResource"],
            resources=resources,
            conditions={"ForAnyValue:StringEquals": {"aws:TagKeys": [ENVIRONMENT_TAG]}},
        ),
    ]


def prepare_statements(stack: cdk.Stack, environment: str) -> list[iam.PolicyStatement]:
    """Read Nova images from the public hub; start (or find) a Bedrock customization job, tagged."""
    return [
        # The public hub and its content belong to the account "aws", not to this one.
        iam.PolicyStatement(actions=HUB_READ_ACTIONS, resources=public_hub_arns(stack)),
        iam.PolicyStatement(
            actions=CUSTOMIZATION_START_ACTIONS,
            resources=[
                bedrock_arn(stack, "model-customization-job"),
                bedrock_arn(stack, "custom-model"),
                bedrock_arn(stack, "foundation-model", account=""),
            ],
        ),
        tag_on_create_statement(stack, environment, ["model-customization-job", "custom-model"]),
    ]


def clean_up_statements(stack: cdk.Stack, environment: str) -> list[iam.PolicyStatement]:
    """Stop what a failed run started; delete the models and deployments it half made: this environment's only."""
    jobs = stack.format_arn(service="sagemaker", resource="training-job", resource_name="*")
    return [
        iam.PolicyStatement(actions=CLEAN_UP_LOOKUP_ACTIONS["training-job"], resources=[jobs]),
        iam.PolicyStatement(
            actions=CLEAN_UP_LOOKUP_ACTIONS["imported-model"], resources=[bedrock_arn(stack, "imported-model")]
        ),
        iam.PolicyStatement(actions=TRAINING_STOP_ACTIONS, resources=[jobs], conditions=own_environment(environment)),
        iam.PolicyStatement(
            actions=BEDROCK_CLEAN_UP_ACTIONS,
            resources=[
                bedrock_arn(stack, "model-customization-job"),
                bedrock_arn(stack, "custom-model-deployment"),
                bedrock_arn(stack, "custom-model"),
                bedrock_arn(stack, "imported-model"),
                bedrock_arn(stack, "provisioned-model"),
            ],
            conditions=own_environment(environment),
        ),
    ]


def evaluation_statement(stack: cdk.Stack) -> iam.PolicyStatement:
    """Invoke the base model (or its profile), the judge and the customized or imported candidate. A
    cross-Region inference profile (``us.``, ``eu.``) routes to the foundation model in any of its Regions,
    and the caller needs InvokeModel on the model there too (Bedrock user guide, "Prerequisites for
    inference profiles"): foundation models in every Region."""
    return iam.PolicyStatement(
        actions=MODEL_INVOKE_ACTIONS,
        resources=[
            stack.format_arn(service="bedrock", region="*", account="", resource="foundation-model", resource_name="*"),
            bedrock_arn(stack, "inference-profile"),
            bedrock_arn(stack, "custom-model"),
            bedrock_arn(stack, "custom-model-deployment"),
            bedrock_arn(stack, "imported-model"),
            # A full-rank model is evaluated on the run's provisioned throughput (Converse takes its ARN).
            bedrock_arn(stack, "provisioned-model"),
        ],
    )


def cluster_read_statement(cluster_arn: str) -> iam.PolicyStatement:
    """The cluster's endpoint and certificate, for the HyperPod jobs step."""
    return iam.PolicyStatement(actions=CLUSTER_READ_ACTIONS, resources=[cluster_arn])


# What a caller needs of the key of an SSE-KMS SNS topic or a DynamoDB table with a customer managed key:
# https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html (publishers: kms:GenerateDataKey, kms:Decrypt),
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.usagenotes.html (kms:Decrypt, and
# kms:GenerateDataKey for the table key DynamoDB caches per caller).
ENCRYPTED_TARGET_KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"]


def encrypted_targets_statement(stack: cdk.Stack, key_arn: str) -> iam.PolicyStatement:
    """The key for publishing to the workflow's topic and writing its table, through those services only."""
    return iam.PolicyStatement(
        actions=ENCRYPTED_TARGET_KEY_ACTIONS,
        resources=[key_arn],
        conditions={
            "StringEquals": {
                "kms:ViaService": [f"sns.{stack.region}.amazonaws.com", f"dynamodb.{stack.region}.amazonaws.com"]
            }
        },
    )


# Where SageMaker training jobs and HyperPod jobs leave Nova checkpoints: AWS-owned escrow buckets named
# customer-escrow-<account>-<platform>-<id> (the Nova Forge SDK's platform detection), which CreateCustomModel
# imports from as the Bedrock role; the SDK's Bedrock execution role reads customer-escrow-<account>*.
ESCROW_READ_ACTIONS = ["s3:GetObject", "s3:ListBucket"]


def escrow_buckets(stack: cdk.Stack) -> list[str]:
    escrow = f"arn:{stack.partition}:s3:::customer-escrow-{stack.account}"
    return [f"{escrow}*", f"{escrow}*/*"]


def escrow_read_statement(stack: cdk.Stack) -> iam.PolicyStatement:
    """Read this account's Nova checkpoints, to import them into Bedrock."""
    return iam.PolicyStatement(actions=ESCROW_READ_ACTIONS, resources=escrow_buckets(stack))


def model_key_statements(stack: cdk.Stack, key_arn: str) -> list[iam.PolicyStatement]:
    """For models Bedrock encrypts with the platform key (created, imported, deployed, provisioned), through
    Bedrock only: Bedrock takes a grant on the key for the model (kms:CreateGrant, with
    kms:GrantIsForAWSResource, the condition key that exists only for the grant operations) and uses the key
    on the caller's behalf (kms:DescribeKey, kms:Decrypt, kms:GenerateDataKey). Bedrock user guide,
    "Encryption of custom models" and "Encryption of imported custom models"; Provisioned Throughput
    prerequisites: the caller must be able to decrypt the model's key."""
    via_bedrock = {"kms:ViaService": f"bedrock.{stack.region}.amazonaws.com"}
    return [
        iam.PolicyStatement(
            actions=MODEL_KEY_GRANT_ACTIONS,
            resources=[key_arn],
            conditions={"StringEquals": via_bedrock, "Bool": {"kms:GrantIsForAWSResource": "true"}},
        ),
        model_key_use_statement(stack, key_arn),
    ]


def model_key_use_statement(stack: cdk.Stack, key_arn: str) -> iam.PolicyStatement:
    """Use the key through Bedrock only: what a caller of a model Bedrock keeps encrypted with it needs."""
    via_bedrock = {"kms:ViaService": f"bedrock.{stack.region}.amazonaws.com"}
    return iam.PolicyStatement(
        actions=MODEL_KEY_USE_ACTIONS, resources=[key_arn], conditions={"StringEquals": via_bedrock}
    )
