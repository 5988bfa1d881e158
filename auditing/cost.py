"""What an environment costs while it sits idle, and what one customization run is worth.

Units are counted from the templates (NAT gateways, endpoint-AZs, FSx GiB, EKS clusters, HyperPod
instances and their EBS, KMS keys, alarms, Bedrock model units) and priced from ``prices.yaml``, a
table kept in the repository with a source URL per price. HyperPod bills its instances for as long as
the cluster exists, so they are part of the idle figure. Anything billed by use is listed, not priced.
A resource the table cannot price (an instance type, throughput tier or model it lacks) is an error
that names it, never a silent zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditing.cfn import Resource, TemplateSet, as_list, literal_int
from auditing.markdown import code, document, table
from auditing.prices import Price, PriceError, PriceTable


@dataclass(frozen=True)
class CostLine:
    """``units`` of ``price`` per month (e.g. 730 NAT gateway-hours); ``quantity`` says how they add up."""

    item: str
    resources: tuple[str, ...]
    quantity: str
    units: float
    price: Price

    @property
    def monthly(self) -> float | None:
        return None if self.price.usd is None else self.units * self.price.usd


@dataclass(frozen=True)
class InstanceGroup:
    cluster: str
    name: str
    instance_type: str
    count: int
    restricted: bool = False
    ebs_gb: int = 0


@dataclass(frozen=True)
class RunEstimate:
    group: InstanceGroup
    hours: float
    price: Price

    @property
    def total(self) -> float | None:
        return None if self.price.usd is None else self.group.count * self.hours * self.price.usd


@dataclass(frozen=True)
class CostEstimate:
    idle: list[CostLine] = field(default_factory=list)
    run: RunEstimate | None = None

    @property
    def idle_total(self) -> float:
        return sum(line.monthly or 0.0 for line in self.idle)

    @property
    def unpriced(self) -> list[CostLine]:
        return [line for line in self.idle if line.monthly is None]


def _count(resource: Resource, value: Any, field_name: str) -> int:
    count = literal_int(value)
    if count is None:
        raise PriceError(f"{resource.ref}: {field_name} is not a literal number ({value!r}), so it cannot be priced")
    return count


def instance_groups(templates: TemplateSet) -> list[InstanceGroup]:
    """Every HyperPod instance group, restricted ones included, with its extra EBS per instance."""
    groups = []
    for cluster in templates.resources("AWS::SageMaker::Cluster"):
        for restricted, key in ((False, "InstanceGroups"), (True, "RestrictedInstanceGroups")):
            for group in as_list(cluster.properties.get(key)):
                ebs = sum(
                    _count(cluster, s["EbsVolumeConfig"].get("VolumeSizeInGB", 0), "VolumeSizeInGB")
                    for s in as_list(group.get("InstanceStorageConfigs"))
                    if isinstance(s, Mapping) and isinstance(s.get("EbsVolumeConfig"), Mapping)
                )
                groups.append(
                    InstanceGroup(
                        cluster.ref,
                        str(group.get("InstanceGroupName")),
                        str(group.get("InstanceType")),
                        _count(cluster, group.get("InstanceCount"), "InstanceCount"),
                        restricted,
                        ebs,
                    )
                )
    return groups


def _refs(resources: Sequence[Resource]) -> tuple[str, ...]:
    return tuple(r.ref for r in resources)


def _per_count(item: str, resources: list[Resource], price: Price, hours: int | None) -> list[CostLine]:
    if not resources:
        return []
    if hours is None:
        return [CostLine(item, _refs(resources), f"{len(resources)}", float(len(resources)), price)]
    return [CostLine(item, _refs(resources), f"{len(resources)} x {hours} h", float(len(resources) * hours), price)]


def _network_lines(templates: TemplateSet, prices: PriceTable) -> list[CostLine]:
    hours = prices.hours_per_month
    lines = _per_count(
        "NAT gateways", list(templates.resources("AWS::EC2::NatGateway")), prices.unit("nat_gateway_hour"), hours
    )
    lines += _per_count(
        "Public IPv4 addresses (Elastic IPs)",
        list(templates.resources("AWS::EC2::EIP")),
        prices.unit("public_ipv4_address_hour"),
        hours,
    )
    endpoints = [
        e for e in templates.resources("AWS::EC2::VPCEndpoint") if e.properties.get("VpcEndpointType") == "Interface"
    ]
    endpoint_azs = sum(len(as_list(e.properties.get("SubnetIds"))) for e in endpoints)
    if endpoints:
        lines.append(
            CostLine(
                "Interface VPC endpoints (per AZ)",
                _refs(endpoints),
                f"{len(endpoints)} endpoints, {endpoint_azs} endpoint-AZs x {hours} h",
                float(endpoint_azs * hours),
                prices.unit("interface_endpoint_az_hour"),
            )
        )
    return lines


def _storage_lines(templates: TemplateSet, prices: PriceTable) -> list[CostLine]:
    lines = []
    for fs in templates.resources("AWS::FSx::FileSystem"):
        lustre = fs.properties.get("LustreConfiguration", {})
        deployment = lustre.get("DeploymentType")
        if fs.properties.get("FileSystemType") != "LUSTRE" or deployment != "PERSISTENT_2":
            raise PriceError(f"{fs.ref}: only FSx for Lustre PERSISTENT_2 is priced, not {deployment!r}")
        size = _count(fs, fs.properties.get("StorageCapacity"), "StorageCapacity")
        tier = _count(fs, lustre.get("PerUnitStorageThroughput"), "PerUnitStorageThroughput")
        lines.append(
            CostLine(
                f"FSx for Lustre PERSISTENT_2, {tier} MB/s/TiB",
                (fs.ref,),
                f"{size} GiB",
                float(size),
                prices.lustre(tier),
            )
        )
    for cluster in templates.resources("AWS::SageMaker::Cluster"):
        for group in as_list(cluster.properties.get("RestrictedInstanceGroups")):
            config = group.get("EnvironmentConfig", {}).get("FSxLustreConfig")
            if isinstance(config, Mapping):
                size = _count(cluster, config.get("SizeInGiB"), "SizeInGiB")
                tier = _count(cluster, config.get("PerUnitStorageThroughput"), "PerUnitStorageThroughput")
                name = group.get("InstanceGroupName")
                item = f"FSx for Lustre of restricted group {name} ({tier} MB/s/TiB, priced as PERSISTENT_2)"
                lines.append(CostLine(item, (cluster.ref,), f"{size} GiB", float(size), prices.lustre(tier)))
    return lines


def _compute_lines(templates: TemplateSet, prices: PriceTable) -> list[CostLine]:
    hours = prices.hours_per_month
    lines = _per_count(
        "EKS clusters", list(templates.resources("AWS::EKS::Cluster")), prices.unit("eks_cluster_hour"), hours
    )
    for group in instance_groups(templates):
        kind = "restricted instance group" if group.restricted else "instance group"
        lines.append(
            CostLine(
                f"HyperPod {kind} {group.name}: {group.instance_type}",
                (group.cluster,),
                f"{group.count} x {hours} h",
                float(group.count * hours),
                prices.instance(group.instance_type),
            )
        )
        if group.ebs_gb:
            lines.append(
                CostLine(
                    f"HyperPod EBS volumes of {group.name}",
                    (group.cluster,),
                    f"{group.count} x {group.ebs_gb} GB",
                    float(group.count * group.ebs_gb),
                    prices.unit("sagemaker_ebs_gb_month"),
                )
            )
    return lines


def _model_id(value: Any) -> str | None:
    """The model a literal foundation-model or inference-profile ARN names (``Fn::Join`` of literal text and
    pseudo parameters included); None for a deploy-time value (``model_source: lineage``)."""
    if isinstance(value, Mapping) and "Fn::Join" in value:
        _, parts = value["Fn::Join"]
        value = "".join(part if isinstance(part, str) else "" for part in parts)
    if not isinstance(value, str):
        return None
    for kind in ("foundation-model/", "inference-profile/"):
        if kind in value:
            model = value.rsplit(kind, 1)[-1]
            # A cross-Region profile (us., eu., apac.) routes to the same base model.
            return model.split(".", 1)[1] if kind == "inference-profile/" and model.count(".") > 1 else model
    return None


def _serving_lines(templates: TemplateSet, prices: PriceTable) -> list[CostLine]:
    """Provisioned throughput created by a custom resource (CloudFormation has no type for it), priced per model unit
    of its base model: a customized model's throughput is billed at its base model's rate, and the model itself is
    known only at deploy time with ``model_source: lineage`` (its base is ``BaseInvokeArn``'s). A committed
    throughput is billed per term, which the price table does not hold: listed, not priced."""
    lines = []
    for resource in templates.resources():
        props = resource.properties
        if not resource.type.startswith("Custom::") or "ModelUnits" not in props or "ModelId" not in props:
            continue
        model = _model_id(props.get("ModelId")) or _model_id(props.get("BaseInvokeArn"))
        if model is None:
            raise PriceError(f"{resource.ref}: neither ModelId nor BaseInvokeArn names a model to price")
        units = _count(resource, props.get("ModelUnits"), "ModelUnits")
        commitment = props.get("CommitmentDuration", "None")
        if commitment not in (None, "None", ""):
            term = Price(None, "AWS Bedrock pricing, per commitment term", "MU", f"{commitment} commitment")
            lines.append(
                CostLine(
                    f"Bedrock provisioned throughput {model}, {commitment} commitment",
                    (resource.ref,),
                    f"{units} MU for the term",
                    float(units),
                    term,
                )
            )
            continue
        expiry = literal_int(props.get("ExpireAfterHours"))
        hours = min(prices.hours_per_month, expiry) if expiry else prices.hours_per_month
        when = f" (deleted after {expiry} h)" if expiry else ""
        lines.append(
            CostLine(
                f"Bedrock provisioned throughput {model}, no commitment{when}",
                (resource.ref,),
                f"{units} MU x {hours} h",
                float(units * hours),
                prices.model_unit(model),
            )
        )
    return lines


def _other_lines(templates: TemplateSet, prices: PriceTable) -> list[CostLine]:
    lines = _per_count("KMS keys", list(templates.resources("AWS::KMS::Key")), prices.unit("kms_key_month"), None)
    lines += _per_count(
        "CloudWatch alarms",
        list(templates.resources("AWS::CloudWatch::Alarm")),
        prices.unit("cloudwatch_alarm_month"),
        None,
    )
    lines += _per_count(
        "CloudWatch dashboards",
        list(templates.resources("AWS::CloudWatch::Dashboard")),
        prices.unit("cloudwatch_dashboard_month"),
        None,
    )
    return lines


def customization_run(templates: TemplateSet, prices: PriceTable, hours: float | None = None) -> RunEstimate | None:
    """The priciest instance group (all its instances) for ``hours`` (default: the table's run hours)."""
    groups = instance_groups(templates)
    if not groups:
        return None
    priced = [(group, prices.instance(group.instance_type)) for group in groups]
    group, price = max(priced, key=lambda gp: ((gp[1].usd or 0.0) * gp[0].count, gp[0].name))
    return RunEstimate(group, prices.run_hours if hours is None else hours, price)


def estimate(templates: TemplateSet, prices: PriceTable, run_hours: float | None = None) -> CostEstimate:
    """Idle monthly lines and the run estimate; raises ``PriceError`` naming anything it cannot price."""
    idle = (
        _network_lines(templates, prices)
        + _storage_lines(templates, prices)
        + _compute_lines(templates, prices)
        + _serving_lines(templates, prices)
        + _other_lines(templates, prices)
    )
    return CostEstimate(idle, customization_run(templates, prices, run_hours))


def _usd(value: float | None) -> str:
    return "price not set" if value is None else f"${value:,.2f}"


def _rate(price: Price) -> str:
    """A unit price with the precision it is quoted in ($0.005, $0.145, $113.07) and its unit."""
    if price.usd is None:
        return "price not set"
    digits = f"{price.usd:,.4f}".rstrip("0")
    whole, _, fraction = digits.partition(".")
    text = f"${whole}.{fraction.ljust(2, '0')}"
    return f"{text} / {price.unit}" if price.unit else text


def _unit_price(price: Price, marks: dict[str, str]) -> str:
    text = _rate(price)
    if price.note:
        marks.setdefault(price.note, "†" * (len(marks) + 1))
        text += " " + marks[price.note]
    return text


def render_cost(environment: str, templates: TemplateSet, prices: PriceTable) -> str:
    """cost.md: idle monthly cost line by line, the usage-based exclusions, and one customization run."""
    result = estimate(templates, prices)
    marks: dict[str, str] = {}
    rows = [
        [
            line.item,
            ", ".join(code(r) for r in line.resources),
            line.quantity,
            _unit_price(line.price, marks),
            _usd(line.monthly),
        ]
        for line in result.idle
    ]
    rows.append(["**Total**", "", "", "", f"**{_usd(result.idle_total)}**"])
    intro = (
        f"Prices: {prices.region}, on-demand, USD, from `auditing/prices.yaml` dated {prices.date} "
        f"(each price's source URL is listed below); {prices.hours_per_month} hours per month. "
        "An estimate from the templates, not a bill: the region an environment deploys to may price differently."
    )
    idle = "## Idle, per month\n\n" + table(["Item", "Resources", "Quantity", "Unit price", "Monthly"], rows)
    if result.unpriced:
        idle += (
            "\nNot in the total (price not set in prices.yaml): "
            + "; ".join(line.item for line in result.unpriced)
            + ".\n"
        )
    usage = "## Not included: billed by use\n\n" + "\n".join(f"- {item}" for item in prices.usage_based)
    if result.run is None:
        run = "## One customization run\n\nNo HyperPod cluster in this environment: no run estimate."
    else:
        g = result.run.group
        run = (
            "## One customization run\n\n"
            f"Assumption: a run keeps the environment's most expensive instance group, `{g.name}` "
            f"({g.count} x {g.instance_type}), busy for {result.run.hours:g} hours (`customization_run.hours` in "
            "prices.yaml). HyperPod bills instances while the cluster exists, so on this environment the run is "
            "already inside the idle figure: this is its share, e.g. for charge-back. Bedrock customization jobs "
            "(per token) are not included.\n\n"
            + table(
                ["Instances", "Hours", "Unit price", "Run cost"],
                [
                    [
                        f"{g.count} x {g.instance_type}",
                        f"{result.run.hours:g}",
                        _unit_price(result.run.price, marks),
                        _usd(result.run.total),
                    ]
                ],
            )
        )
    used = {line.price.source for line in result.idle} | ({result.run.price.source} if result.run else set())
    notes = [f"- {url}" for url in sorted(used)]
    notes += [f"- {mark} {note}" for note, mark in marks.items()]
    notes += [f"- Table note: {prices.note}"] if prices.note else []
    return document(
        f"Cost estimate: {environment}", intro, idle, usage, run, "## Sources and notes\n\n" + "\n".join(notes)
    )
