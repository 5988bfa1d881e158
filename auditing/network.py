"""Network exposure: what in the templates can be reached from the internet ("exposed") and what not.

Checked: security group ingress (0.0.0.0/0, ::/0, or a CIDR outside every VPC of the environment;
egress is not exposure and is not listed), internet gateways, subnets with a default route to one,
NAT gateways (outbound only, so "internal"), load balancers, VPC endpoints, EKS API endpoints
(``EndpointPublicAccess``, which CloudFormation defaults to true), Lambda function URLs, API Gateway
APIs, AgentCore runtimes, gateways and tools (``NetworkMode: PUBLIC``), CloudFront, Cognito domains
and HyperPod clusters without a VPC.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditing.cfn import Resource, TemplateSet, as_list
from auditing.markdown import code, document, table

EXPOSED = "exposed"
INTERNAL = "internal"
ANYWHERE = ("0.0.0.0/0", "::/0")


@dataclass(frozen=True, order=True)
class Exposure:
    stack_id: str
    logical_id: str
    type: str
    what: str
    status: str
    detail: str


def vpc_cidrs(templates: TemplateSet) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The literal CIDR blocks of the environment's VPCs (none when the VPC is imported by id)."""
    cidrs = []
    for resource in templates.resources("AWS::EC2::VPC", "AWS::EC2::VPCCidrBlock"):
        block = resource.properties.get("CidrBlock")
        if isinstance(block, str):
            cidrs.append(ipaddress.ip_network(block, strict=False))
    return cidrs


def classify_cidr(cidr: str, vpcs: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> tuple[str, str]:
    """(status, why) for an ingress source CIDR."""
    if cidr in ANYWHERE:
        return EXPOSED, f"from anywhere ({cidr})"
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return EXPOSED, f"from {cidr} (not a CIDR this audit understands)"
    if any(network.version == vpc.version and network.subnet_of(vpc) for vpc in vpcs):  # type: ignore[arg-type]
        return INTERNAL, f"from {cidr}, inside the VPC"
    if not network.is_private:
        return EXPOSED, f"from {cidr}, a public range outside the VPC"
    if vpcs:
        return EXPOSED, f"from {cidr}, a private range outside the VPC (peering, VPN or on-premises)"
    return INTERNAL, f"from {cidr}, a private range (the VPC is imported, its CIDR is not in the templates)"


def _ports(rule: Mapping[str, Any]) -> str:
    protocol = str(rule.get("IpProtocol", "-1"))
    if protocol == "-1":
        return "all traffic"
    start, end = rule.get("FromPort"), rule.get("ToPort")
    ports = f"{start}" if start == end else f"{start}-{end}"
    return f"{protocol} {ports}"


def _ingress_source(
    templates: TemplateSet, stack_id: str, rule: Mapping[str, Any], vpcs: Sequence[Any], group: tuple[str, str]
) -> tuple[str, str]:
    if "SourceSecurityGroupId" in rule or "SourceSecurityGroupName" in rule:
        source = rule.get("SourceSecurityGroupId", rule.get("SourceSecurityGroupName"))
        target = templates.target(stack_id, source)
        if target is not None and (target.stack_id, target.logical_id) == group:
            return INTERNAL, "from the group itself"
        return INTERNAL, f"from security group {templates.display(stack_id, source)}"
    if "SourcePrefixListId" in rule:
        prefix_list = templates.display(stack_id, rule["SourcePrefixListId"])
        return EXPOSED, f"from prefix list {prefix_list} (its CIDRs are not in the template: check them)"
    cidr = rule.get("CidrIp", rule.get("CidrIpv6"))
    if isinstance(cidr, str):
        return classify_cidr(cidr, vpcs)
    target = templates.target(stack_id, cidr)
    if target is not None and target.attribute in ("CidrBlock", "CidrBlockAssociations"):
        resource = templates.resource(target.stack_id, target.logical_id)
        if resource is not None and resource.type == "AWS::EC2::VPC":
            return INTERNAL, f"from the VPC's CIDR ({templates.display(stack_id, cidr)})"
    return EXPOSED, f"from {templates.display(stack_id, cidr)} (not resolvable here: check it)"


def security_group_exposures(templates: TemplateSet) -> list[Exposure]:
    """One row per ingress rule (inline or ``AWS::EC2::SecurityGroupIngress``); groups without any too."""
    vpcs = vpc_cidrs(templates)
    rules: dict[tuple[str, str], list[tuple[str, Mapping[str, Any]]]] = {}
    for group in templates.resources("AWS::EC2::SecurityGroup"):
        rules[(group.stack_id, group.logical_id)] = [
            (group.stack_id, r) for r in as_list(group.properties.get("SecurityGroupIngress")) if isinstance(r, Mapping)
        ]
    for ingress in templates.resources("AWS::EC2::SecurityGroupIngress"):
        target = templates.target(ingress.stack_id, ingress.properties.get("GroupId"))
        key = (target.stack_id, target.logical_id) if target else (ingress.stack_id, ingress.logical_id)
        rules.setdefault(key, []).append((ingress.stack_id, ingress.properties))
    found = []
    for (stack_id, logical_id), group_rules in sorted(rules.items()):
        if not group_rules:
            found.append(
                Exposure(stack_id, logical_id, "AWS::EC2::SecurityGroup", "no ingress", INTERNAL, "no ingress rule")
            )
        for rule_stack, rule in group_rules:
            status, why = _ingress_source(templates, rule_stack, rule, vpcs, (stack_id, logical_id))
            description = f" ({rule['Description']})" if isinstance(rule.get("Description"), str) else ""
            found.append(
                Exposure(
                    stack_id,
                    logical_id,
                    "AWS::EC2::SecurityGroup",
                    f"ingress {_ports(rule)}",
                    status,
                    why + description,
                )
            )
    return found


def _public_route_tables(templates: TemplateSet) -> set[tuple[str, str]]:
    tables = set()
    for route in templates.resources("AWS::EC2::Route"):
        gateway = templates.target(route.stack_id, route.properties.get("GatewayId"))
        gateway_resource = templates.resource(gateway.stack_id, gateway.logical_id) if gateway else None
        if gateway_resource is not None and gateway_resource.type == "AWS::EC2::InternetGateway":
            table_ = templates.target(route.stack_id, route.properties.get("RouteTableId"))
            if table_:
                tables.add((table_.stack_id, table_.logical_id))
    return tables


def subnet_exposures(templates: TemplateSet) -> list[Exposure]:
    """Subnets routed to an internet gateway (or mapping public IPs) are exposed; the rest internal."""
    public_tables = _public_route_tables(templates)
    public_subnets = set()
    for association in templates.resources("AWS::EC2::SubnetRouteTableAssociation"):
        table_ = templates.target(association.stack_id, association.properties.get("RouteTableId"))
        subnet_ref = templates.target(association.stack_id, association.properties.get("SubnetId"))
        if table_ and subnet_ref and (table_.stack_id, table_.logical_id) in public_tables:
            public_subnets.add((subnet_ref.stack_id, subnet_ref.logical_id))
    found = []
    for subnet in templates.resources("AWS::EC2::Subnet"):
        cidr = templates.display(subnet.stack_id, subnet.properties.get("CidrBlock", ""))
        routed = (subnet.stack_id, subnet.logical_id) in public_subnets
        maps_ips = subnet.properties.get("MapPublicIpOnLaunch") is True
        if routed or maps_ips:
            reasons = [
                *(["default route to an internet gateway"] if routed else []),
                *(["public IPs on launch"] if maps_ips else []),
            ]
            found.append(
                Exposure(
                    subnet.stack_id,
                    subnet.logical_id,
                    subnet.type,
                    f"public subnet {cidr}",
                    EXPOSED,
                    "; ".join(reasons),
                )
            )
        else:
            found.append(
                Exposure(
                    subnet.stack_id,
                    subnet.logical_id,
                    subnet.type,
                    f"private subnet {cidr}",
                    INTERNAL,
                    "no route from an internet gateway",
                )
            )
    return found


def _eks(templates: TemplateSet, r: Resource) -> Exposure:
    config = r.properties.get("ResourcesVpcConfig", {})
    public = config.get("EndpointPublicAccess", True) is not False
    if public:
        cidrs = (
            ", ".join(templates.display(r.stack_id, c) for c in as_list(config.get("PublicAccessCidrs"))) or "0.0.0.0/0"
        )
        return Exposure(
            r.stack_id, r.logical_id, r.type, "Kubernetes API endpoint", EXPOSED, f"public endpoint, from {cidrs}"
        )
    return Exposure(r.stack_id, r.logical_id, r.type, "Kubernetes API endpoint", INTERNAL, "private endpoint only")


def _agentcore(templates: TemplateSet, r: Resource) -> Exposure:
    kind = r.type.rsplit("::", 1)[-1]
    if kind == "Gateway":
        authorizer = templates.display(r.stack_id, r.properties.get("AuthorizerType", "unspecified"))
        return Exposure(
            r.stack_id,
            r.logical_id,
            r.type,
            "AgentCore gateway (MCP)",
            EXPOSED,
            f"public HTTPS endpoint; authorizer {authorizer}",
        )
    mode = templates.display(r.stack_id, r.properties.get("NetworkConfiguration", {}).get("NetworkMode", "PUBLIC"))
    authorizer = "JWT" if "CustomJWTAuthorizer" in r.properties.get("AuthorizerConfiguration", {}) else "IAM (SigV4)"
    detail = f"NetworkMode {mode}" + (f"; authorizer {authorizer}" if kind == "Runtime" else "")
    return Exposure(
        r.stack_id, r.logical_id, r.type, f"AgentCore {kind.lower()}", EXPOSED if mode == "PUBLIC" else INTERNAL, detail
    )


def _load_balancer(templates: TemplateSet, r: Resource) -> Exposure:
    scheme = templates.display(r.stack_id, r.properties.get("Scheme", "internet-facing"))
    status = INTERNAL if scheme == "internal" else EXPOSED
    return Exposure(r.stack_id, r.logical_id, r.type, "load balancer", status, f"scheme {scheme}")


def _rest_api(templates: TemplateSet, r: Resource) -> Exposure:
    types = [
        templates.display(r.stack_id, t) for t in as_list(r.properties.get("EndpointConfiguration", {}).get("Types"))
    ]
    private = types == ["PRIVATE"]
    return Exposure(
        r.stack_id,
        r.logical_id,
        r.type,
        "REST API",
        INTERNAL if private else EXPOSED,
        f"endpoint {', '.join(types) or 'EDGE'}",
    )


def _endpoint(templates: TemplateSet, r: Resource) -> Exposure:
    kind = templates.display(r.stack_id, r.properties.get("VpcEndpointType", "Gateway"))
    service = templates.display(r.stack_id, r.properties.get("ServiceName"))
    return Exposure(
        r.stack_id, r.logical_id, r.type, f"VPC endpoint ({kind})", INTERNAL, f"{service}, private to the VPC"
    )


def _simple(
    what: str, status: str, detail: Callable[[TemplateSet, Resource], str]
) -> Callable[[TemplateSet, Resource], Exposure]:
    def build(templates: TemplateSet, r: Resource) -> Exposure:
        return Exposure(r.stack_id, r.logical_id, r.type, what, status, detail(templates, r))

    return build


RULES: Mapping[str, Callable[[TemplateSet, Resource], Exposure]] = {
    "AWS::EKS::Cluster": _eks,
    "AWS::BedrockAgentCore::Runtime": _agentcore,
    "AWS::BedrockAgentCore::Gateway": _agentcore,
    "AWS::BedrockAgentCore::BrowserCustom": _agentcore,
    "AWS::BedrockAgentCore::CodeInterpreterCustom": _agentcore,
    "AWS::ElasticLoadBalancingV2::LoadBalancer": _load_balancer,
    "AWS::ElasticLoadBalancing::LoadBalancer": _load_balancer,
    "AWS::ApiGateway::RestApi": _rest_api,
    "AWS::EC2::VPCEndpoint": _endpoint,
    "AWS::EC2::InternetGateway": _simple("internet gateway", EXPOSED, lambda t, r: "entry point for public subnets"),
    "AWS::EC2::NatGateway": _simple(
        "NAT gateway", INTERNAL, lambda t, r: "outbound only: private subnets reach the internet, nothing reaches in"
    ),
    "AWS::Lambda::Url": _simple(
        "Lambda function URL", EXPOSED, lambda t, r: f"auth {t.display(r.stack_id, r.properties.get('AuthType'))}"
    ),
    "AWS::ApiGatewayV2::Api": _simple(
        "HTTP/WebSocket API",
        EXPOSED,
        lambda t, r: f"protocol {t.display(r.stack_id, r.properties.get('ProtocolType'))}",
    ),
    "AWS::CloudFront::Distribution": _simple("CloudFront distribution", EXPOSED, lambda t, r: "public CDN endpoint"),
    "AWS::Cognito::UserPoolDomain": _simple("Cognito hosted domain", EXPOSED, lambda t, r: "public sign-in endpoint"),
    "AWS::SageMaker::Cluster": lambda t, r: Exposure(
        r.stack_id,
        r.logical_id,
        r.type,
        "HyperPod cluster nodes",
        INTERNAL if r.properties.get("VpcConfig") else EXPOSED,
        "in the VPC's subnets (VpcConfig)"
        if r.properties.get("VpcConfig")
        else "no VpcConfig: nodes run in the SageMaker service VPC, with internet access",
    ),
}


def exposures(templates: TemplateSet) -> list[Exposure]:
    """Every network-relevant resource with its status, ordered by stack, logical id and rule."""
    found = security_group_exposures(templates) + subnet_exposures(templates)
    for resource in templates.resources(*RULES):
        found.append(RULES[resource.type](templates, resource))
    return sorted(found)


def _rows(items: Iterable[Exposure]) -> list[list[str]]:
    return [[code(f"{e.stack_id}/{e.logical_id}"), code(e.type), e.what, e.detail] for e in items]


def render_network(environment: str, templates: TemplateSet) -> str:
    """network.md: exposed first, then internal, with the VPC CIDRs used to judge ingress."""
    found = exposures(templates)
    exposed = [e for e in found if e.status == EXPOSED]
    internal = [e for e in found if e.status == INTERNAL]
    cidrs = ", ".join(str(c) for c in vpc_cidrs(templates)) or "none in the templates (imported VPC)"
    intro = (
        f'{len(exposed)} exposed, {len(internal)} internal. VPC CIDRs: {cidrs}. "exposed" means reachable from '
        "the internet (an authorizer may still guard it); security group egress is not listed."
    )
    headers = ["Resource", "Type", "What", "Detail"]
    return document(
        f"Network exposure: {environment}",
        intro,
        f"## {EXPOSED.capitalize()}\n\n" + (table(headers, _rows(exposed)) if exposed else "none\n"),
        f"## {INTERNAL.capitalize()}\n\n" + (table(headers, _rows(internal)) if internal else "none\n"),
    )
