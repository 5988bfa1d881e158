"""Agent stack (pinned fixture): AgentCore runtime, memory, identity, gateway and observability."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def agent(fixture_envs):
    return fixture_envs["pinned"].template("pinned", "Agent")


def test_runtime_runs_the_agent_container_on_the_served_model_with_memory_and_gateway(agent):
    [runtime] = agent.find_resources("AWS::BedrockAgentCore::Runtime").values()
    props = runtime["Properties"]
    assert "ContainerConfiguration" in props["AgentRuntimeArtifact"]
    env = json.dumps(props["EnvironmentVariables"])
    assert "InvokeArn" in env  # what the Serving stack serves (base model, deployment or throughput)
    # A digest of the serving settings: bumping serving.lineage_generation changes this template, so cdk deploy
    # deploys the Agent stack again and it reads the new model.
    assert "SERVED_MODEL_REVISION" in env
    assert "BEDROCK_AGENTCORE_MEMORY_ID" in env and "GATEWAY_URL" in env
    # The verified JWT reaches the agent, which names the user (memory's actor id) by its sub claim.
    assert props["RequestHeaderConfiguration"] == {"RequestHeaderAllowlist": ["Authorization"]}


def test_runtime_accepts_only_jwts_from_the_user_pool_made_here(agent):
    [runtime] = agent.find_resources("AWS::BedrockAgentCore::Runtime").values()
    jwt = runtime["Properties"]["AuthorizerConfiguration"]["CustomJWTAuthorizer"]
    assert "cognito-idp" in json.dumps(jwt["DiscoveryUrl"]) and jwt["AllowedClients"]
    agent.has_resource_properties("AWS::Cognito::UserPool", {"MfaConfiguration": "ON"})


def test_memory_has_the_three_long_term_strategies_and_the_platform_key(agent):
    [memory] = agent.find_resources("AWS::BedrockAgentCore::Memory").values()
    props = memory["Properties"]
    kinds = sorted(next(iter(strategy)) for strategy in props["MemoryStrategies"])
    assert kinds == ["SemanticMemoryStrategy", "SummaryMemoryStrategy", "UserPreferenceMemoryStrategy"]
    assert props["EventExpiryDuration"] == 30
    assert "EncryptionKeyArn" in props
    assert memory["DeletionPolicy"] == "Retain"


def test_gateway_is_iam_authorized_mcp_with_the_weather_lambda_tool(agent):
    agent.has_resource_properties(
        "AWS::BedrockAgentCore::Gateway", {"AuthorizerType": "AWS_IAM", "ProtocolType": "MCP"}
    )
    [target] = agent.find_resources("AWS::BedrockAgentCore::GatewayTarget").values()
    assert target["Properties"]["Name"] == "weather"
    assert "get_weather" in json.dumps(target["Properties"]["TargetConfiguration"])
    assert target["Properties"]["CredentialProviderConfigurations"] == [{"CredentialProviderType": "GATEWAY_IAM_ROLE"}]


def test_workload_identity_exists_for_outbound_calls(agent):
    agent.resource_count_is("AWS::BedrockAgentCore::WorkloadIdentity", 1)


def test_application_and_usage_logs_and_traces_are_delivered(agent):
    sources = agent.find_resources("AWS::Logs::DeliverySource")
    log_types = sorted(s["Properties"]["LogType"] for s in sources.values())
    # The runtime's application and usage logs and traces, and the memory's and the gateway's application logs.
    assert log_types == ["APPLICATION_LOGS", "APPLICATION_LOGS", "APPLICATION_LOGS", "TRACES", "USAGE_LOGS"]
    sourced = {json.dumps(s["Properties"]["ResourceArn"]) for s in sources.values()}
    assert any("AgentMemory" in arn for arn in sourced) and any("AgentGateway" in arn for arn in sourced)
    for delivery in agent.find_resources("AWS::Logs::Delivery").values():
        assert "DeliverySourceName" in delivery["Properties"] and "DeliveryDestinationArn" in delivery["Properties"]
    for group in agent.find_resources("AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] >= 1 and "KmsKeyId" in group["Properties"]


def test_alarms_cover_errors_latency_and_throttles_of_runtime_gateway_and_model(agent):
    alarms = agent.find_resources("AWS::CloudWatch::Alarm")
    descriptions = sorted(a["Properties"]["AlarmDescription"].split(": ")[1] for a in alarms.values())
    assert descriptions == sorted(
        f"{part}{signal}"
        for part in ("Runtime", "Gateway", "Model")
        for signal in ("Errors", "Throttles", "LatencyP90")
    )
    for alarm in alarms.values():
        [action] = alarm["Properties"]["AlarmActions"]
        assert action["Ref"].startswith("ObservabilityAlarms")
    agent.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "platform-alerts@example.com"}
    )
    agent.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def test_operator_gets_an_invoke_command_that_signs_in_rather_than_a_sigv4_call(agent):
    """The runtime takes a JWT: the AWS CLI's SigV4 invoke-agent-runtime cannot call it."""
    command = json.dumps(agent.find_outputs("InvokeCommand"))
    assert "agent/invoke.py --runtime-arn" in command and "--client-id" in command
    assert "invoke-agent-runtime" not in command
    [client] = agent.find_resources("AWS::Cognito::UserPoolClient").values()
    assert set(client["Properties"]["ExplicitAuthFlows"]) >= {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH"}
    assert client["Properties"]["GenerateSecret"] is False


def test_transaction_search_is_turned_on_where_config_asks_with_the_spans_policy_first(agent):
    """One TransactionSearchConfig per account and Region: only the environment whose config opts in makes it."""
    [(policy_id, policy)] = [
        (logical_id, policy)
        for logical_id, policy in agent.find_resources("AWS::Logs::ResourcePolicy").items()
        if "xray.amazonaws.com" in json.dumps(policy["Properties"]["PolicyDocument"])
    ]
    document = json.dumps(policy["Properties"]["PolicyDocument"])
    assert "logs:PutLogEvents" in document and "aws/spans:*" in document and "aws:SourceAccount" in document
    [config] = agent.find_resources("AWS::XRay::TransactionSearchConfig").values()
    assert config["Properties"]["IndexingPercentage"] == 1
    assert config["DependsOn"] == [policy_id]


def test_the_committed_environments_leave_transaction_search_to_an_explicit_choice(committed):
    for env in ("dev", "staging", "prod"):
        assert not committed.template(env, "Agent").find_resources("AWS::XRay::TransactionSearchConfig")
