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
    # boto3 reads AWS_DEFAULT_REGION and the Identity SDK AWS_REGION (else us-west-2): both, from the stack.
    assert props["EnvironmentVariables"]["AWS_REGION"] == props["EnvironmentVariables"]["AWS_DEFAULT_REGION"]


def test_named_resources_are_kept_on_delete_but_not_when_a_first_deploy_rolls_back(agent):
    """Fixed names: a copy kept by a failed create would fail the retry with "already exists"."""
    kept = [
        *agent.find_resources("AWS::BedrockAgentCore::Memory").values(),
        *[
            group
            for group in agent.find_resources("AWS::Logs::LogGroup").values()
            if "/aws/vendedlogs/" in json.dumps(group["Properties"].get("LogGroupName", ""))
        ],
        *agent.find_resources("AWS::XRay::TransactionSearchConfig").values(),
    ]
    assert len(kept) >= 4
    for resource in kept:
        assert resource["DeletionPolicy"] == "RetainExceptOnCreate", resource["Metadata"]["aws:cdk:path"]


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
    assert memory["DeletionPolicy"] == "RetainExceptOnCreate"


def test_gateway_is_mcp_with_the_weather_lambda_tool(agent):
    from constructs.agent_runtime import GATEWAY_MCP_VERSIONS

    [gateway] = agent.find_resources("AWS::BedrockAgentCore::Gateway").values()
    assert gateway["Properties"]["ProtocolType"] == "MCP"
    # The list the test gateway (tests/gateway_fake.py) enforces, so the agent's tests run the deployed negotiation.
    assert gateway["Properties"]["ProtocolConfiguration"]["Mcp"]["SupportedVersions"] == list(GATEWAY_MCP_VERSIONS)
    [target] = agent.find_resources("AWS::BedrockAgentCore::GatewayTarget").values()
    # Creating the target invokes the Lambda with the gateway's role: its policy exists first.
    role_policy = logical_id(agent, "AWS::IAM::Policy", "/Gateway/ServiceRole/")
    assert role_policy in target.get("DependsOn", [])
    assert target["Properties"]["Name"] == "weather"
    assert "get_weather" in json.dumps(target["Properties"]["TargetConfiguration"])
    assert target["Properties"]["CredentialProviderConfigurations"] == [{"CredentialProviderType": "GATEWAY_IAM_ROLE"}]


def logical_id(template, resource_type: str, cdk_path_part: str) -> str:
    [found] = [
        name
        for name, resource in template.find_resources(resource_type).items()
        if cdk_path_part in resource["Metadata"]["aws:cdk:path"]
    ]
    return found


def test_gateway_takes_only_tokens_of_the_agents_machine_client_with_the_tools_scope(agent):
    """CUSTOM_JWT: the machine pool's discovery URL, its one client and the scope; not the users' pool."""
    [gateway] = agent.find_resources("AWS::BedrockAgentCore::Gateway").values()
    assert gateway["Properties"]["AuthorizerType"] == "CUSTOM_JWT"
    jwt = gateway["Properties"]["AuthorizerConfiguration"]["CustomJWTAuthorizer"]
    pool = logical_id(agent, "AWS::Cognito::UserPool", "/GatewayClient/")
    client = logical_id(agent, "AWS::Cognito::UserPoolClient", "/GatewayClient/")
    assert pool in json.dumps(jwt["DiscoveryUrl"])
    assert jwt["AllowedClients"] == [{"Ref": client}]
    assert jwt["AllowedScopes"] == ["tools/invoke"]


def test_the_machine_client_uses_client_credentials_for_the_tools_scope_on_a_pool_with_a_domain(agent):
    client = logical_id(agent, "AWS::Cognito::UserPoolClient", "/GatewayClient/")
    props = agent.find_resources("AWS::Cognito::UserPoolClient")[client]["Properties"]
    assert props["GenerateSecret"] is True
    assert props["AllowedOAuthFlows"] == ["client_credentials"] and props["AllowedOAuthFlowsUserPoolClient"] is True
    server = logical_id(agent, "AWS::Cognito::UserPoolResourceServer", "/GatewayClient/")
    assert props["AllowedOAuthScopes"] == [{"Fn::Join": ["", [{"Ref": server}, "/invoke"]]}]  # Ref: the identifier
    agent.has_resource_properties("AWS::Cognito::UserPoolResourceServer", {"Identifier": "tools"})
    [domain] = agent.find_resources("AWS::Cognito::UserPoolDomain").values()
    assert "pinned-platform-agent-tools-" in json.dumps(domain["Properties"]["Domain"])


def test_identity_holds_the_client_secret_by_reference_and_the_runtime_may_get_the_token(agent):
    """The provider takes the secret from the client's ClientSecret attribute (never a literal); the runtime's
    environment names the provider and scope, and its role may call GetResourceOauth2Token on that provider."""
    client = logical_id(agent, "AWS::Cognito::UserPoolClient", "/GatewayClient/")
    [(provider_id, provider)] = agent.find_resources("AWS::BedrockAgentCore::OAuth2CredentialProvider").items()
    config = provider["Properties"]["Oauth2ProviderConfigInput"]["CustomOauth2ProviderConfig"]
    assert config["ClientSecret"] == {"Fn::GetAtt": [client, "ClientSecret"]}
    assert config["ClientId"] == {"Ref": client}
    assert ".well-known/openid-configuration" in json.dumps(config["OauthDiscovery"]["DiscoveryUrl"])
    domain = logical_id(agent, "AWS::Cognito::UserPoolDomain", "/GatewayClient/")
    assert domain in provider["DependsOn"]  # the discovery document names a token endpoint only once it exists
    [runtime] = agent.find_resources("AWS::BedrockAgentCore::Runtime").values()
    env = runtime["Properties"]["EnvironmentVariables"]
    assert env["GATEWAY_TOKEN_PROVIDER"] == provider["Properties"]["Name"] == "pinned_platform_agent_gateway_client"
    assert env["GATEWAY_TOKEN_SCOPE"] == "tools/invoke"
    role = runtime["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        statement
        for policy in agent.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    token = [s for s in statements if "bedrock-agentcore:GetResourceOauth2Token" in json.dumps(s["Action"])]
    assert token and {"Fn::GetAtt": [provider_id, "CredentialProviderArn"]} in token[0]["Resource"]
    assert any("secretsmanager:GetSecretValue" in json.dumps(s["Action"]) for s in statements)
    # No IAM invoke of the gateway remains: it takes tokens, not signatures.
    assert not any("bedrock-agentcore:InvokeGateway" in json.dumps(s["Action"]) for s in statements)
    agent.resource_count_is("AWS::BedrockAgentCore::WorkloadIdentity", 0)  # the runtime's own identity is used


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
    client = agent.find_resources("AWS::Cognito::UserPoolClient")[
        logical_id(agent, "AWS::Cognito::UserPoolClient", "/AgentClient/")
    ]
    assert set(client["Properties"]["ExplicitAuthFlows"]) >= {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH"}
    assert client["Properties"]["GenerateSecret"] is False
    assert "AllowedOAuthFlows" not in client["Properties"]  # no hosted-UI grants to a placeholder callback


def test_the_image_holds_the_agent_and_its_lock_not_the_operators_script(fixture_envs):
    """Editing agent/invoke.py must not rebuild and redeploy the runtime's image."""
    [image_dir] = [
        path.parent
        for path in fixture_envs["pinned"].outdir.rglob("Dockerfile")
        if (path.parent / "platform_agent").is_dir()
    ]
    assert (image_dir / "requirements.lock").is_file()
    assert not (image_dir / "invoke.py").exists()


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
