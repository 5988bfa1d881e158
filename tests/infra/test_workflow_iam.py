"""IAM derived from the calls: every call the workflow makes is allowed, on the resource it touches.

The calls come from the synthesized definition (each Task's integration and parameters) and from the
step handlers' code (every boto3 call reachable from each handler, ``sfn_harness.code``). What each call
needs comes from an outside source, the IAM service authorization data ``policy_sentry`` ships (the
action exists and the sample resource is of a type the action takes), plus the table below where the
action differs from the API call or more is needed: KMS on encrypted targets, ``iam:PassRole`` with
``iam:PassedToService``, the EventBridge rule a ``.sync`` task manages. The synthesized role policies,
inline and managed (across stacks), must allow each one. What the roles grant beyond that is listed,
with the grant that adds it.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from policy_sentry.querying.actions import get_action_data
from sfn_harness.code import CODE, aws_calls
from sfn_harness.definition import ACCOUNT, Resolver, every_state

from config.loader import load_environments
from constructs.workflow_perms import STOP_AND_DELETE_ACTIONS
from customization.contract import ENVIRONMENT_TAG, PUBLIC_HUB, Env

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# Sample resources a call touches, of the type the action takes (policy_sentry checks the type).
SAMPLES = {
    "custom-model": "arn:aws:bedrock:{region}:{account}:custom-model/amazon.nova-lite-v1:0:300k/abcdef123456",
    "imported-model": "arn:aws:bedrock:{region}:{account}:imported-model/abcdef123456",
    "custom-model-deployment": "arn:aws:bedrock:{region}:{account}:custom-model-deployment/abcdef123456",
    "model-customization-job": (
        "arn:aws:bedrock:{region}:{account}:model-customization-job/amazon.nova-lite-v1:0:300k/abcdef123456"
    ),
    "model-import-job": "arn:aws:bedrock:{region}:{account}:model-import-job/abcdef123456",
    "provisioned-model": "arn:aws:bedrock:{region}:{account}:provisioned-model/abcdef123456",
    "foundation-model": "arn:aws:bedrock:{region}::foundation-model/amazon.nova-lite-v1:0:300k",
    "inference-profile": "arn:aws:bedrock:{region}:{account}:inference-profile/us.amazon.nova-pro-v1:0",
    "training-job": "arn:aws:sagemaker:{region}:{account}:training-job/run-train",
    "hub-content": "arn:aws:sagemaker:{region}:aws:hub-content/" + PUBLIC_HUB + "/Model/nova-textgeneration-lite",
    "sagemaker-rule": "arn:aws:events:{region}:{account}:rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule",
}
# Bedrock operations (SDK integration or boto3) -> the resources each touches here.
BEDROCK_RESOURCES = {
    "CreateCustomModel": ["*"],  # no resource type: "*" only
    "GetCustomModel": ["custom-model"],
    "DeleteCustomModel": ["custom-model"],
    "CreateCustomModelDeployment": ["custom-model"],
    "GetCustomModelDeployment": ["custom-model-deployment"],
    "DeleteCustomModelDeployment": ["custom-model-deployment"],
    # Service Authorization Reference: the custom model and its base foundation model are both required.
    "CreateProvisionedModelThroughput": ["custom-model", "foundation-model"],
    "GetProvisionedModelThroughput": ["provisioned-model"],
    "DeleteProvisionedModelThroughput": ["provisioned-model"],
    "CreateModelImportJob": ["*"],  # no resource type: "*" only
    "GetModelImportJob": ["model-import-job"],
    "DeleteImportedModel": ["imported-model"],
    "GetImportedModel": ["imported-model"],
    "CreateModelCustomizationJob": ["custom-model", "foundation-model"],
    "GetModelCustomizationJob": ["model-customization-job"],
    "StopModelCustomizationJob": ["model-customization-job"],
}
# Bedrock operations that create -> what they create, each tagged at creation (bedrock:TagResource on it).
BEDROCK_CREATES = {
    "CreateCustomModel": ["custom-model"],
    "CreateModelImportJob": ["model-import-job", "imported-model"],
    "CreateCustomModelDeployment": ["custom-model-deployment"],
    "CreateProvisionedModelThroughput": ["provisioned-model"],
    "CreateModelCustomizationJob": ["model-customization-job", "custom-model"],
}
RESOURCE_TAG = f"aws:ResourceTag/{ENVIRONMENT_TAG}"
REQUEST_TAG = f"aws:RequestTag/{ENVIRONMENT_TAG}"
# Parameters that make Bedrock encrypt what it creates with a customer managed key: the caller needs
# kms:CreateGrant and kms:DescribeKey on it, through Bedrock (Bedrock user guide, "Encryption of custom
# models" and "Encryption of imported custom models").
MODEL_KEY_PARAMETERS = {"ModelKmsKeyArn", "ImportedModelKmsKeyId", "customModelKmsKeyId"}


@dataclass(frozen=True)
class Need:
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    why: str = ""


@dataclass
class Environment:
    resolver: Resolver
    stack: str
    template: dict[str, Any]

    @property
    def name(self) -> str:
        return self.stack.removesuffix("-Workflow")

    def sample(self, kind: str) -> str:
        return SAMPLES[kind].format(region=self.resolver.region, account=self.resolver.account)

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.resolver.region}:{self.resolver.account}:{resource}"

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.template["Resources"].items() if r["Type"] == kind}

    def variables(self, handler: str) -> dict[str, str]:
        [function] = [
            f for f in self.resources("AWS::Lambda::Function").values() if f["Properties"].get("Handler") == handler
        ]
        return self.resolver.value(function["Properties"].get("Environment", {}).get("Variables", {}), self.stack)


@pytest.fixture(scope="module")
def environments(committed, fixture_envs) -> dict[str, Environment]:
    found = {}
    pinned = load_environments(FIXTURES / "pinned")[0]
    for synthesized in (committed, fixture_envs["pinned"]):
        for env, stacks in synthesized.templates.items():
            if "Workflow" not in stacks:
                continue
            templates = {f"{env}-{short}": template.to_json() for short, template in stacks.items()}
            place = (pinned.region, pinned.account) if env == pinned.name else ("us-east-1", ACCOUNT)
            resolver = Resolver(templates, *place)
            found[env] = Environment(resolver, f"{env}-Workflow", templates[f"{env}-Workflow"])
    return found


# --- what the roles allow ---------------------------------------------------------------------------------------


def role_statements(environment: Environment, role: str) -> list[dict[str, Any]]:
    """Every statement the role has: its inline policies and the customer managed policies it attaches."""
    resolver, stack = environment.resolver, environment.stack
    statements = []
    # Inline policies, and the managed policies aws-cdk-lib moves a role's statements to when they outgrow IAM's
    # inline size quota (``<Role>OverflowPolicy<n>``, attached by Roles).
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy in environment.resources(kind).values():
            if {"Ref": role} in policy["Properties"].get("Roles", []):
                statements += policy["Properties"]["PolicyDocument"]["Statement"]
    properties = environment.template["Resources"][role]["Properties"]
    for arn in properties.get("ManagedPolicyArns", []):
        reference = arn.get("Fn::GetStackOutput") if isinstance(arn, dict) else None
        if reference is None:
            continue  # AWS managed: logging and ENIs, not what these calls need
        producer = resolver.stacks[reference["StackName"]]
        logical_id = producer["Outputs"][reference["OutputName"]]["Value"]["Ref"]
        document = producer["Resources"][logical_id]["Properties"]["PolicyDocument"]
        statements += [resolver.value(s, reference["StackName"]) for s in document["Statement"]]
        continue
    return [resolver.value(s, stack) for s in statements]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allows(statements: list[dict[str, Any]], need: Need) -> bool:
    """Some statement allows the call and none denies it (an explicit deny wins: IAM user guide, "Policy
    evaluation logic")."""
    applying = [s for s in statements if _applies(s, need)]
    return any(s["Effect"] == "Allow" for s in applying) and not any(s["Effect"] == "Deny" for s in applying)


def _applies(statement: dict[str, Any], need: Need) -> bool:
    context, deny = dict(need.context), statement["Effect"] == "Deny"
    if not any(fnmatch.fnmatchcase(need.action.lower(), a.lower()) for a in _listed(statement["Action"])):
        return False
    if not any(fnmatch.fnmatchcase(need.resource, str(r)) for r in _listed(statement["Resource"])):
        return False
    return all(_satisfied(op, conditions, context, deny) for op, conditions in statement.get("Condition", {}).items())


KNOWN_OPERATORS = {"StringEquals", "StringNotEquals", "StringLike", "Bool", "ArnEquals", "ArnLike", "Null"}


def _satisfied(operator: str, conditions: dict[str, Any], context: dict[str, str], deny: bool = False) -> bool:
    """Whether the call's context meets one condition block. An operator this check does not model is taken the
    conservative way: it never lets an Allow apply, and always lets a Deny apply. A negated operator matches a
    key the call does not carry (IAM user guide, "Condition operators")."""
    if operator not in KNOWN_OPERATORS:
        return deny
    for key, expected in conditions.items():
        values = [str(v) for v in _listed(expected)]
        if operator == "Null":  # "true": the call does not carry the key; "false": it does
            if (key not in context) != (values == ["true"]):
                return False
            continue
        if operator == "StringNotEquals":
            if context.get(key) in values:
                return False
            continue
        if key not in context:
            return False
        if operator in ("StringEquals", "Bool", "ArnEquals") and context[key] not in values:
            return False
        if operator in ("StringLike", "ArnLike") and not any(fnmatch.fnmatchcase(context[key], v) for v in values):
            return False
    return True


# --- what the calls need --------------------------------------------------------------------------------------


def kms_through(environment: Environment, service: str, key: str, *actions: str, why: str) -> list[Need]:
    via = (("kms:ViaService", f"{service}.{environment.resolver.region}.amazonaws.com"),)
    return [Need(action, key, via, why) for action in actions]


def model_key(environment: Environment, key: str, why: str, *, grant: bool = True) -> list[Need]:
    """Bedrock creating (``grant``) or using a model encrypted with the key, for the caller: the grant (with
    kms:GrantIsForAWSResource, which only the grant operations carry), and the key's use through Bedrock."""
    via = (("kms:ViaService", f"bedrock.{environment.resolver.region}.amazonaws.com"),)
    needs = [Need(action, key, via, why) for action in ("kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey")]
    if grant:
        needs.append(Need("kms:CreateGrant", key, (*via, ("kms:GrantIsForAWSResource", "true")), why))
    return needs


def pass_role(role: str, service: str, why: str) -> Need:
    return Need("iam:PassRole", role, (("iam:PassedToService", f"{service}.amazonaws.com"),), why)


def bedrock_needs(environment: Environment, operation: str, why: str) -> list[Need]:
    """The operation on what it touches, and tagging what it creates with the environment's tag."""
    kinds = BEDROCK_RESOURCES[operation]
    needs = [Need(f"bedrock:{operation}", "*" if kind == "*" else environment.sample(kind), why=why) for kind in kinds]
    tagged = ((REQUEST_TAG, environment.name),)
    return needs + [
        Need("bedrock:TagResource", environment.sample(kind), tagged, f"{why} (tagged)")
        for kind in BEDROCK_CREATES.get(operation, [])
    ]


def state_machine_needs(environment: Environment) -> list[Need]:
    """What each Task of the definition calls, on what."""
    resolver = environment.resolver
    machine = next(iter(environment.resources("AWS::StepFunctions::StateMachine").values()))
    definition = json.loads(resolver.value(machine["Properties"]["DefinitionString"], environment.stack))
    key = environment.variables("customization_steps.steps.prepare")[Env.KEY_ARN]
    needs: list[Need] = []
    for name, state in every_state(definition).items():
        assert state["Type"] != "Parallel", f"{name}: derive the needs of nested states too"
        if state["Type"] == "Map":
            needs += distributed_map_needs(
                environment,
                name,
                state,
                machine_arn=resolver.value(
                    {"Ref": next(iter(environment.resources("AWS::StepFunctions::StateMachine")))}, environment.stack
                ),
            )
            continue
        if state["Type"] != "Task":
            continue
        resource, parameters = state["Resource"], state.get("Parameters", {})
        if resource.startswith("arn:aws:lambda:"):
            needs.append(Need("lambda:InvokeFunction", resource, why=name))
        elif ":states:::aws-sdk:bedrock:" in resource:
            action = resource.rsplit(":", 1)[-1]
            operation = action[0].upper() + action[1:]
            needs += bedrock_needs(environment, operation, name)
            if "RoleArn" in parameters:
                needs.append(pass_role(parameters["RoleArn"], "bedrock", name))
            if MODEL_KEY_PARAMETERS & set(parameters):
                needs += model_key(environment, key, name)
            if operation in ("CreateCustomModelDeployment", "CreateProvisionedModelThroughput"):
                # The model it serves is encrypted with the key (Provisioned Throughput prerequisites).
                needs += model_key(environment, key, name, grant=False)
        elif resource.endswith(":states:::sagemaker:createTrainingJob.sync"):
            # Step Functions, "IAM policies for Amazon SageMaker AI" (.sync): the job, its role, and the
            # EventBridge rule Step Functions manages to learn that the job ended.
            job, rule = environment.sample("training-job"), environment.sample("sagemaker-rule")
            needs += [
                Need(f"sagemaker:{a}", job, why=name)
                for a in ("CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob")
            ]
            # Tags at creation: CreateTrainingJob's dependent action (Service Authorization Reference).
            needs.append(Need("sagemaker:AddTags", job, why=f"{name} (tagged)"))
            needs += [Need(f"events:{a}", rule, why=name) for a in ("PutTargets", "PutRule", "DescribeRule")]
            needs.append(pass_role(parameters["RoleArn"], "sagemaker", name))
        elif resource.endswith(":states:::dynamodb:updateItem"):
            table = environment.arn("dynamodb", f"table/{parameters['TableName']}")
            needs.append(Need("dynamodb:UpdateItem", table, why=name))
            needs += kms_through(
                environment, "dynamodb", key, "kms:Decrypt", "kms:GenerateDataKey", why=f"{name} (table)"
            )
        elif resource.endswith(":states:::sns:publish"):
            needs.append(Need("sns:Publish", parameters["TopicArn"], why=name))
            needs += kms_through(environment, "sns", key, "kms:GenerateDataKey", "kms:Decrypt", why=f"{name} (topic)")
        else:
            raise AssertionError(f"{name}: {resource} is an integration this test does not know")
    return needs


def distributed_map_needs(environment: Environment, name: str, state: dict[str, Any], machine_arn: str) -> list[Need]:
    """A Distributed Map reads its items and writes its results itself, and runs child executions of this state
    machine (Step Functions developer guide, "IAM policies for using Distributed Map states")."""
    assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED", f"{name}: an inline Map"
    steps = environment.variables("customization_steps.steps.prepare")
    key = steps[Env.KEY_ARN]
    needs = [Need("states:StartExecution", machine_arn, why=f"{name} (child executions)")]
    # The state machine is encrypted with the platform key: its child executions' data is too.
    needs += [Need(action, key, why=f"{name} (child executions)") for action in ("kms:Decrypt", "kms:GenerateDataKey")]
    reader, writer = state.get("ItemReader"), state.get("ResultWriter")
    if reader is not None:
        assert reader["Resource"].endswith(":states:::s3:getObject")
        dataset = f"arn:aws:s3:::{steps[Env.DATASETS_BUCKET]}/sets/eval.jsonl"
        needs += [Need("s3:GetObject", dataset, why=f"{name} (ItemReader)"), Need("kms:Decrypt", key, why=name)]
        if "VersionId.$" in reader["Parameters"]:  # GetObject with a versionId is authorized as s3:GetObjectVersion
            needs.append(Need("s3:GetObjectVersion", dataset, why=f"{name} (ItemReader, a version)"))
    if writer is not None:
        assert writer["Resource"].endswith(":states:::s3:putObject")
        results = f"arn:aws:s3:::{steps[Env.ARTIFACTS_BUCKET]}/runs/run/output/evaluation/map/manifest.json"
        needs += [
            Need(f"s3:{action}", results, why=f"{name} (ResultWriter)")
            for action in ("PutObject", "GetObject", "ListMultipartUploadParts", "AbortMultipartUpload")
        ]
        needs += [Need(action, key, why=f"{name} (ResultWriter)") for action in ("kms:GenerateDataKey", "kms:Decrypt")]
    return needs


def handler_needs(environment: Environment, handler: str) -> list[Need]:
    """What the boto3 calls reachable from ``handler`` need, on the resources this environment gives them."""
    package, entry = handler.split(".")[0], handler.rsplit(".", 1)[-1]
    calls = aws_calls(package, CODE[package].reachable(entry))
    variables = environment.variables(handler) if package == "customization_steps" else {}
    steps = environment.variables("customization_steps.steps.prepare")
    key = steps[Env.KEY_ARN]
    artifacts = f"arn:aws:s3:::{steps[Env.ARTIFACTS_BUCKET]}/runs/run/output/object"
    datasets = f"arn:aws:s3:::{steps[Env.DATASETS_BUCKET]}/sets/eval.jsonl"
    table = environment.arn("dynamodb", f"table/{steps[Env.RUNS_TABLE]}")
    needs: list[Need] = []
    for service, operation in sorted(calls):
        why = f"{handler}: {service}.{operation}"
        if service == "s3" and operation == "PutObject":
            needs += [Need("s3:PutObject", artifacts, why=why), Need("kms:GenerateDataKey", key, why=why)]
        elif service == "s3" and operation in ("GetObject", "HeadObject"):
            # HeadObject is authorized as s3:GetObject (S3 API reference). The evaluation reads its cache, its
            # batches' answers and the map's results in the artifacts bucket; the dataset check reads the dataset.
            obj = datasets if entry == "check_handler" else artifacts
            needs += [Need("s3:GetObject", obj, why=why), Need("kms:Decrypt", key, why=why)]
        elif service == "dynamodb" and operation == "PutItem":
            needs.append(Need("dynamodb:PutItem", table, why=why))
            needs += kms_through(environment, "dynamodb", key, "kms:Decrypt", "kms:GenerateDataKey", why=why)
        elif service == "sagemaker" and operation == "DescribeHubContent":
            needs.append(Need("sagemaker:DescribeHubContent", environment.sample("hub-content"), why=why))
        elif service == "sagemaker" and operation in ("StopTrainingJob", "DescribeTrainingJob"):
            needs.append(Need(f"sagemaker:{operation}", environment.sample("training-job"), why=why))
        elif service == "bedrock":
            needs += bedrock_needs(environment, operation, why)
            if operation == "CreateModelCustomizationJob":
                needs.append(pass_role(steps[Env.CUSTOMIZATION_ROLE_ARN], "bedrock", why))
                needs += model_key(environment, key, why)
        elif service == "bedrock-runtime" and operation == "Converse":
            # Converse is authorized as bedrock:InvokeModel (Bedrock API reference, Converse).
            kinds = (
                "foundation-model",
                "inference-profile",
                "custom-model-deployment",
                "imported-model",
                "provisioned-model",
            )
            needs += [Need("bedrock:InvokeModel", environment.sample(kind), why=why) for kind in kinds]
            # A cross-Region inference profile routes to the model in another of its Regions.
            other = "eu-central-1" if environment.resolver.region.startswith("us-") else "us-west-2"
            needs.append(
                Need(
                    "bedrock:InvokeModel",
                    environment.sample("foundation-model").replace(f":{environment.resolver.region}::", f":{other}::"),
                    why=f"{why} (through a cross-Region profile)",
                )
            )
            # The customized and imported models are encrypted with the platform key.
            needs += model_key(environment, key, why, grant=False)
        elif service == "eks" and operation == "DescribeCluster":
            cluster = environment.arn("eks", f"cluster/{variables[Env.CLUSTER_NAME]}")
            needs.append(Need("eks:DescribeCluster", cluster, why=why))
        else:
            raise AssertionError(f"{why} is a call this test does not know what it needs")
    return needs


BEDROCK_JOBS = "Bedrock jobs (service role)"
TRAINING_JOBS = "SageMaker training jobs (service role)"


def passed_roles(environment: Environment) -> dict[str, str]:
    """The roles the definition passes to a service: logical id -> who assumes it."""
    resolver = environment.resolver
    machine = next(iter(environment.resources("AWS::StepFunctions::StateMachine").values()))
    definition = json.loads(resolver.value(machine["Properties"]["DefinitionString"], environment.stack))
    found = {}
    for state in definition["States"].values():
        role = state.get("Parameters", {}).get("RoleArn")
        if role:
            kind = TRAINING_JOBS if "sagemaker:createTrainingJob" in state["Resource"] else BEDROCK_JOBS
            found[role.rsplit("/", 1)[-1]] = kind
    return found


def service_role_needs(environment: Environment, kind: str) -> list[Need]:
    """What the service does as the role: reads the run's data, writes its output, and, for Bedrock, reads the
    Nova checkpoint from the escrow bucket SageMaker and HyperPod jobs write it to (customer-escrow-<account>-...;
    the Nova Forge SDK's Bedrock execution role reads customer-escrow-<account>*)."""
    steps = environment.variables("customization_steps.steps.prepare")
    key = steps[Env.KEY_ARN]
    datasets = f"arn:aws:s3:::{steps[Env.DATASETS_BUCKET]}"
    artifacts = f"arn:aws:s3:::{steps[Env.ARTIFACTS_BUCKET]}"
    needs = [
        Need("s3:GetObject", f"{datasets}/sets/train.jsonl", why=f"{kind}: training data"),
        Need("s3:ListBucket", datasets, why=f"{kind}: data folders"),
        Need("kms:Decrypt", key, why=f"{kind}: data encrypted with the platform key"),
        Need("s3:PutObject", f"{artifacts}/runs/run/output/x", why=f"{kind}: job output"),
        Need("kms:GenerateDataKey", key, why=f"{kind}: output encrypted with the platform key"),
    ]
    if kind == TRAINING_JOBS:
        # A training job in a VPC pulls the Nova image, logs, puts metrics and places its ENIs
        # (SageMaker developer guide, "CreateTrainingJob API: Execution Role Permissions").
        region, account = environment.resolver.region, environment.resolver.account
        repository = f"arn:aws:ecr:{region}:708977205387:repository/nova-fine-tune-repo"
        log_stream = (
            f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/TrainingJobs:log-stream:run-train/algo-1"
        )
        metrics = (("cloudwatch:namespace", "/aws/sagemaker/TrainingJobs"),)
        needs += [Need("ecr:GetAuthorizationToken", "*", why=f"{kind}: image pull")]
        needs += [
            Need(f"ecr:{a}", repository, why=f"{kind}: image pull")
            for a in ("BatchGetImage", "GetDownloadUrlForLayer", "BatchCheckLayerAvailability")
        ]
        needs += [
            Need(f"logs:{a}", log_stream, why=f"{kind}: logs")
            for a in ("CreateLogGroup", "CreateLogStream", "PutLogEvents", "DescribeLogStreams")
        ]
        needs.append(Need("cloudwatch:PutMetricData", "*", metrics, why=f"{kind}: metrics"))
        needs += [
            Need(f"ec2:{a}", "*", why=f"{kind}: network interfaces in the VPC")
            for a in (
                "CreateNetworkInterface",
                "CreateNetworkInterfacePermission",
                "DeleteNetworkInterface",
                "DeleteNetworkInterfacePermission",
                "DescribeDhcpOptions",
                "DescribeNetworkInterfaces",
                "DescribeSecurityGroups",
                "DescribeSubnets",
                "DescribeVpcs",
            )
        ]
    if kind == BEDROCK_JOBS:
        # CreateCustomModel and CreateModelImportJob: the role "must have permissions to use" the model key.
        needs += model_key(environment, key, f"{kind}: model key")
        escrow = f"customer-escrow-{environment.resolver.account}-smtj-abcdef"
        needs += [
            Need("s3:GetObject", f"arn:aws:s3:::{escrow}/run/checkpoint/model.safetensors", why=f"{kind}: checkpoint"),
            Need("s3:ListBucket", f"arn:aws:s3:::{escrow}", why=f"{kind}: checkpoint folder"),
        ]
    return needs


def roles(environment: Environment) -> dict[str, str]:
    """Role logical id -> what runs as it (the state machine, a function's handler, a service's jobs)."""
    found = dict(passed_roles(environment))
    for machine in environment.resources("AWS::StepFunctions::StateMachine").values():
        found[machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]] = "state machine"
    for function in environment.resources("AWS::Lambda::Function").values():
        handler = function["Properties"].get("Handler", "")
        if handler.split(".")[0] in CODE:
            found[function["Properties"]["Role"]["Fn::GetAtt"][0]] = handler
    return found


def needs_of(environment: Environment, runner: str) -> list[Need]:
    """What the runner's calls need; a Stop or Delete is of this environment's resources, which carry its tag."""
    if runner == "state machine":
        needs = state_machine_needs(environment)
    elif runner in (BEDROCK_JOBS, TRAINING_JOBS):
        needs = service_role_needs(environment, runner)
    else:
        needs = handler_needs(environment, runner)
    own = (RESOURCE_TAG, environment.name)
    return [
        Need(n.action, n.resource, (*n.context, own), n.why) if n.action in STOP_AND_DELETE_ACTIONS else n
        for n in needs
    ]


# --- tests ----------------------------------------------------------------------------------------------------


def test_every_call_is_allowed_on_what_it_touches(environments):
    denied = []
    for env, environment in environments.items():
        for role, runner in roles(environment).items():
            statements = role_statements(environment, role)
            denied += [
                f"{env} {runner}: {need.action} on {need.resource} {dict(need.context)} ({need.why})"
                for need in needs_of(environment, runner)
                if not allows(statements, need)
            ]
    assert not denied, "\n".join(denied)


def test_no_role_may_stop_or_delete_what_another_environment_or_nobody_tagged(environments):
    """Issue 17: in an account environments share, one's workflow cannot stop or delete another's jobs, models,
    deployments or throughputs, nor anything untagged. The same calls with this environment's tag are allowed
    (the test above); here the tag is another environment's, or missing."""
    allowed, checked = [], set()
    for env, environment in environments.items():
        for role, runner in roles(environment).items():
            statements = role_statements(environment, role)
            for need in needs_of(environment, runner):
                if need.action not in STOP_AND_DELETE_ACTIONS:
                    continue
                checked.add((env, runner, need.action))
                untagged = tuple(c for c in need.context if c[0] != RESOURCE_TAG)
                for context in (untagged, (*untagged, (RESOURCE_TAG, f"not-{env}"))):
                    if allows(statements, Need(need.action, need.resource, context, need.why)):
                        allowed.append(f"{env} {runner}: {need.action} on {need.resource} {dict(context)}")
    assert not allowed, "\n".join(allowed)
    # Both stoppers are checked: the clean-up step (all five Bedrock actions and the training job) and the state
    # machine (aws-cdk-lib's .sync StopTrainingJob, and its evaluation deployment's and throughput's deletion).
    for env in environments:
        assert {a for e, r, a in checked if (e, r) == (env, "customization_steps.steps.clean_up_run")} == set(
            STOP_AND_DELETE_ACTIONS
        )
        assert {a for e, r, a in checked if (e, r) == (env, "state machine")} == {
            "sagemaker:StopTrainingJob",
            "bedrock:DeleteCustomModelDeployment",
            "bedrock:DeleteProvisionedModelThroughput",
        }


def _tag_members(operation: str) -> set[str]:
    """The request members of a Bedrock operation that tag what it creates (botocore's model): jobTags,
    customModelTags, importedModelTags, modelTags, tags. Step Functions capitalizes them."""
    shape = botocore.session.get_session().get_service_model("bedrock").operation_model(operation).input_shape
    return {name[0].upper() + name[1:] for name in shape.members if name.lower().endswith("tags")}


def test_everything_the_workflow_creates_carries_its_environment_tag(environments):
    """Every tag member of every Create* task, and the training job's tags, name the environment: what the
    Stop and Delete conditions above require."""
    for env, environment in environments.items():
        machine = next(iter(environment.resources("AWS::StepFunctions::StateMachine").values()))
        definition = json.loads(
            environment.resolver.value(machine["Properties"]["DefinitionString"], environment.stack)
        )
        expected = [{"Key": ENVIRONMENT_TAG, "Value": env}]
        creating = {}
        for name, state in every_state(definition).items():
            resource, parameters = state.get("Resource", ""), state.get("Parameters", {})
            if ":states:::aws-sdk:bedrock:create" in resource:
                action = resource.rsplit(":", 1)[-1]
                members = _tag_members(action[0].upper() + action[1:])
                assert members, f"{name}: {action} has no tag member"
                creating[name] = {member: parameters.get(member) for member in members}
            elif resource.endswith(":states:::sagemaker:createTrainingJob.sync"):
                creating[name] = {"Tags": parameters.get("Tags")}
        assert set(creating) >= {"Import into Bedrock", "Import open-weight model", "Train on SageMaker"}, env
        untagged = {name: tags for name, tags in creating.items() if any(v != expected for v in tags.values())}
        assert not untagged, f"{env}: {untagged}"


def test_each_needed_action_exists_and_takes_the_sample_resource(environments):
    """policy_sentry's authorization data: the action exists, and the resource is of a type it takes."""
    wrong = set()
    for environment in environments.values():
        for runner in roles(environment).values():
            for need in needs_of(environment, runner):
                service, name = need.action.split(":")
                formats = [entry["resource_arn_format"] for entry in get_action_data(service, name).get(service, [])]
                patterns = [_pattern(f) for f in formats if f != "*"]
                sampled = need.resource != "*"  # a wildcard grant: the API takes no narrower resource here
                matched = any(fnmatch.fnmatchcase(need.resource, p) for p in patterns)
                if not formats or (sampled and patterns and not matched):
                    wrong.add(f"{need.action} on {need.resource}: the action takes {formats}")
    assert not wrong, "\n".join(sorted(wrong))


def _pattern(arn_format: str) -> str:
    """``arn:${Partition}:bedrock:${Region}:${Account}:custom-model/${ResourceId}`` -> a glob."""
    out, depth = "", 0
    for part in arn_format.replace("${", "\0").split("\0"):
        if depth:
            _, _, rest = part.partition("}")
            out += "*" + rest
        else:
            out += part
        depth = 1
    return out


def granted_beyond(environments) -> dict[str, set[str]]:
    """Per runner, the granted action patterns no needed action falls under."""
    extras: dict[str, set[str]] = {}
    for environment in environments.values():
        for role, runner in roles(environment).items():
            needed = {need.action.lower() for need in needs_of(environment, runner)}
            for statement in role_statements(environment, role):
                if statement["Effect"] == "Deny":
                    continue
                for action in _listed(statement["Action"]):
                    if not any(fnmatch.fnmatchcase(n, action.lower()) for n in needed):
                        extras.setdefault(runner, set()).add(action)
    return extras


# Granted beyond what the calls need, and the grant that adds it.
LAMBDA_TRACING = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}  # Lambda tracing=ACTIVE (aws-cdk-lib)
# DataStores' shared read policies: aws-cdk-lib's bucket.grant_read, which also lists buckets and describes keys.
BUCKET_READ = {"s3:GetBucket*", "s3:List*", "kms:DescribeKey"}
# DataStores' artifacts read-write policy (bucket.grant_read_write) and the platform key's grant_encrypt_decrypt.
ARTIFACTS_WRITE = BUCKET_READ | {
    "s3:Abort*",
    "s3:DeleteObject*",
    "s3:PutObjectLegalHold",
    "s3:PutObjectRetention",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "kms:Encrypt",
    "kms:ReEncrypt*",
}
GRANTED_BEYOND = {
    # The service roles get the same shared bucket policies and key grant as the steps.
    BEDROCK_JOBS: ARTIFACTS_WRITE - {"s3:List*", "kms:DescribeKey"},
    TRAINING_JOBS: ARTIFACTS_WRITE - {"s3:List*"},
    "customization_steps.steps.validate": LAMBDA_TRACING,
    "customization_steps.steps.clean_up_run": LAMBDA_TRACING,
    "customization_steps.hyperpod_steps.handle": LAMBDA_TRACING,
    "customization_steps.steps.locate": LAMBDA_TRACING | BUCKET_READ,
    # Prepare reads nothing back: s3:GetObject* comes with the artifacts read-write policy (kms:DescribeKey it
    # needs, for Bedrock's grant on the key).
    "customization_steps.steps.prepare": LAMBDA_TRACING | ARTIFACTS_WRITE - {"kms:DescribeKey"} | {"s3:GetObject*"},
    # The evaluation's batches and report share the artifacts read-write policy (the cache, the answers, the report);
    # the batches' s3:GetObject* comes with it, as does the report's kms:DescribeKey.
    "model_evaluation.handler.batch_handler": LAMBDA_TRACING
    | ARTIFACTS_WRITE - {"kms:DescribeKey"}
    | {"s3:GetObject*"},
    "model_evaluation.handler.report_handler": LAMBDA_TRACING | ARTIFACTS_WRITE,
    # The check's kms:DescribeKey is a Converse caller's (through Bedrock), not the bucket read's.
    "model_evaluation.handler.check_handler": LAMBDA_TRACING | BUCKET_READ - {"kms:DescribeKey"},
    "state machine": {
        # aws-cdk-lib's StateMachine: log delivery (LogOptions) and X-Ray (tracing_enabled).
        *{
            f"logs:{action}"
            for action in (
                "CreateLogDelivery",
                "DeleteLogDelivery",
                "DescribeLogGroups",
                "DescribeResourcePolicies",
                "GetLogDelivery",
                "ListLogDeliveries",
                "PutResourcePolicy",
                "UpdateLogDelivery",
            )
        },
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        *LAMBDA_TRACING,
        # aws-cdk-lib's SageMakerCreateTrainingJob: reads the job's tags back.
        "sagemaker:ListTags",
        # aws-cdk-lib's DistributedMap: describes, stops and redrives its child executions.
        "states:DescribeExecution",
        "states:StopExecution",
        "states:RedriveExecution",
        # The evaluation map's ItemReader and ResultWriter: the data stores' shared read (datasets) and read-write
        # (artifacts) policies, beyond the object reads and writes they make.
        *(ARTIFACTS_WRITE - {"s3:Abort*", "s3:List*", "kms:DescribeKey"}),
    },
}


def test_what_the_roles_grant_beyond_the_calls_is_listed_with_its_grant(environments):
    assert granted_beyond(environments) == GRANTED_BEYOND
