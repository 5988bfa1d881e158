"""Typed, frozen description of one environment.

Field defaults are the safe choice; the YAML files under ``config/environments/`` only
say where an environment differs. Cross-field rules live in each class's ``problems``
method, which returns every problem at once so a bad file is fixed in one pass.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal

import botocore.session

from config.agent import AgentConfig
from config.cluster import ClusterConfig
from config.serving import ServingConfig
from config.workflow import WorkflowConfig
from customization.problems import Problem

ACCOUNT_PATTERN = re.compile(r"^\d{12}$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,19}$")


@functools.cache
def known_regions() -> frozenset[str]:
    """Every Region of every partition in the installed botocore's endpoint data (offline)."""
    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    )


def az_id_prefix(region: str) -> str:
    """The AZ ID prefix of a Region: us-east-1 -> use1, ap-northeast-1 -> apne1, ca-central-1 -> cac1."""
    geography, *directions, number = region.split("-")
    letters = {"north": "n", "south": "s", "east": "e", "west": "w", "central": "c"}
    abbreviated = ""
    for direction in directions:
        parts = re.findall("north|south|east|west|central", direction)
        abbreviated += "".join(letters[p] for p in parts) if parts else direction[0]
    return f"{geography}{abbreviated}{number}"


# Zone IDs such as use1-az6 or apne1-az4 (EC2 user guide, "AZ IDs").
AZ_ID_PATTERN = re.compile(r"^[a-z]{2,5}\d-az\d{1,2}$")
VPC_ID_PATTERN = re.compile(r"^vpc-[0-9a-f]{8,17}$")
SUBNET_ID_PATTERN = re.compile(r"^subnet-[0-9a-f]{8,17}$")
ROUTE_TABLE_ID_PATTERN = re.compile(r"^rtb-[0-9a-f]{8,17}$")
LUSTRE_PATH_PATTERN = re.compile(r"^/[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")

# FSx for Lustre PERSISTENT_2 (SSD): per-unit throughput in MB/s/TiB and capacity steps.
LUSTRE_THROUGHPUTS = (125, 250, 500, 1000)
LUSTRE_MIN_GIB = 1200
LUSTRE_STEP_GIB = 2400

# The retention periods CloudWatch Logs accepts, by the name aws_logs.RetentionDays gives them.
LOG_RETENTION_NAMES = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}  # fmt: skip
LOG_RETENTION_DAYS = tuple(LOG_RETENTION_NAMES)

# AWS tag values: at most 256 Unicode characters of letters, digits, spaces and _ . : / = + - @ (Tagging AWS
# resources user guide, "Tag naming limits and requirements").
MAX_TAG_VALUE = 256
TAG_VALUE_PATTERN = re.compile(r"^[\w .:/=+\-@]*$")
# VPC blocks from the private ranges (RFC 1918) and shared address space (RFC 6598), as the VPC user guide advises.
PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
# What ec2.Vpc cuts from a new VPC's block per zone: one public /24 and one private /20 (training_network.py).
PUBLIC_SUBNET_ADDRESSES = 2**8
PRIVATE_SUBNET_ADDRESSES = 2**12
# The CDK's default bootstrap qualifier; another needs `cdk bootstrap --qualifier <q>` in the account.
DEFAULT_QUALIFIER = "hnb659fds"
QUALIFIER_PATTERN = re.compile(r"^[a-z0-9]{1,10}$")
ACKNOWLEDGEMENT_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9]*/[A-Za-z][A-Za-z0-9]*(/[A-Za-z][A-Za-z0-9/]*)?$")
# Where jobs write what is exported to the artifacts bucket (constructs/datasets_file_system.py).
LUSTRE_OUTPUT_PATH = "/output"
MIN_AZS = 2
MAX_AZS = 6


@dataclass(frozen=True)
class Tags:
    """Cost-allocation tags applied once, at the Stage, to every taggable resource."""

    environment: str
    owner: str
    cost_center: str

    def as_aws_tags(self) -> dict[str, str]:
        return {"environment": self.environment, "owner": self.owner, "cost-center": self.cost_center}

    def problems(self, env_name: str) -> list[Problem]:
        found = [
            Problem(f"tags.{key}", value, "a non-empty string")
            for key, value in (("owner", self.owner), ("cost_center", self.cost_center))
            if not value.strip()
        ]
        for key, value in (("environment", self.environment), ("owner", self.owner), ("cost_center", self.cost_center)):
            if len(value) > MAX_TAG_VALUE or not TAG_VALUE_PATTERN.match(value):
                shown = value if len(value) <= 60 else f"{value[:40]}... ({len(value)} characters)"
                found.append(
                    Problem(
                        f"tags.{key}",
                        shown,
                        f"at most {MAX_TAG_VALUE} letters, digits, spaces or _ . : / = + - @ (AWS tag values)",
                    )
                )
        if self.environment != env_name:
            found.append(Problem("tags.environment", self.environment, f"the environment's name, {env_name!r}"))
        return found


@dataclass(frozen=True)
class NetworkConfig:
    """A new VPC (``mode: new``) or an existing one described by ids (``mode: existing``).

    Existing VPCs are described, never looked up, so synth stays hermetic.
    """

    mode: Literal["new", "existing"] = "new"
    cidr: str = "10.0.0.0/16"
    az_count: int = 2
    availability_zones: tuple[str, ...] = ()
    nat_gateways: int = 1
    vpc_id: str | None = None
    private_subnet_ids: tuple[str, ...] = ()
    private_route_table_ids: tuple[str, ...] = ()
    interface_endpoints: bool = True
    flow_log_retention_days: int = 365
    # Where training runs (HyperPod, FSx for Lustre, training jobs): by default the first private subnet. A new VPC
    # can add a subnet in a chosen zone, named by its AZ ID (the same physical zone in every account, as capacity
    # reservations and training plans name it); an existing VPC names one of its private subnets.
    training_availability_zone_id: str | None = None
    training_subnet_cidr: str | None = None
    training_subnet_id: str | None = None

    def addresses_needed(self) -> int:
        """The public /24s, rounded up to the /20 boundary where the private /20s start, then those /20s."""
        public = -(-self.az_count * PUBLIC_SUBNET_ADDRESSES // PRIVATE_SUBNET_ADDRESSES) * PRIVATE_SUBNET_ADDRESSES
        return public + self.az_count * PRIVATE_SUBNET_ADDRESSES

    @property
    def training_zone_chosen(self) -> bool:
        return self.training_availability_zone_id is not None or self.training_subnet_id is not None

    def problems(self, region: str | None) -> list[Problem]:
        found: list[Problem] = []
        try:
            network = ipaddress.IPv4Network(self.cidr, strict=True)
            if not 16 <= network.prefixlen <= 24:
                found.append(Problem("network.cidr", self.cidr, "an IPv4 block from /16 to /24"))
            elif not any(network.subnet_of(block) for block in PRIVATE_RANGES):
                found.append(
                    Problem("network.cidr", self.cidr, "a private block (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)")
                )
            elif self.mode == "new" and network.num_addresses < self.addresses_needed():
                found.append(
                    Problem(
                        "network.cidr",
                        self.cidr,
                        f"a block of at least {self.addresses_needed()} addresses for {self.az_count} zones (a /24 "
                        "public and a /20 private subnet each), e.g. a /16",
                    )
                )
        except ValueError:
            found.append(Problem("network.cidr", self.cidr, "an IPv4 network such as 10.0.0.0/16"))
        if not MIN_AZS <= self.az_count <= MAX_AZS:
            found.append(Problem("network.az_count", self.az_count, f"an integer from {MIN_AZS} to {MAX_AZS}"))
        if self.flow_log_retention_days not in LOG_RETENTION_DAYS:
            found.append(
                Problem(
                    "network.flow_log_retention_days",
                    self.flow_log_retention_days,
                    "one of CloudWatch Logs' retention periods: " + ", ".join(map(str, LOG_RETENTION_DAYS)),
                )
            )
        if region is not None:
            wrong = [az for az in self.availability_zones if not az.startswith(region)]
            if wrong:
                found.append(Problem("network.availability_zones", wrong, f"zones of the region {region}"))
            zone = self.training_availability_zone_id
            if zone is not None and AZ_ID_PATTERN.match(zone) and not zone.startswith(az_id_prefix(region) + "-"):
                found.append(
                    Problem(
                        "network.training_availability_zone_id",
                        zone,
                        f"a zone of {region} ({az_id_prefix(region)}-az<n>)",
                    )
                )
        if self.mode == "new":
            found += self._new_vpc_problems()
        else:
            found += self._existing_vpc_problems()
        return found

    def _new_vpc_problems(self) -> list[Problem]:
        found: list[Problem] = []
        if self.availability_zones:
            found.append(
                Problem(
                    "network.availability_zones",
                    list(self.availability_zones),
                    "empty when mode is 'new': zones come from Fn::GetAZs at deploy time, so synth needs no lookup",
                )
            )
        if not 1 <= self.nat_gateways <= self.az_count:
            found.append(Problem("network.nat_gateways", self.nat_gateways, f"from 1 to az_count ({self.az_count})"))
        zone, cidr = self.training_availability_zone_id, self.training_subnet_cidr
        if zone is not None and not AZ_ID_PATTERN.match(zone):
            found.append(Problem("network.training_availability_zone_id", zone, "an AZ ID such as use1-az6"))
        if (zone is None) != (cidr is None):
            found.append(
                Problem(
                    "network.training_subnet_cidr" if zone else "network.training_availability_zone_id",
                    cidr if zone else None,
                    "both training_availability_zone_id and training_subnet_cidr, or neither",
                )
            )
        if cidr is not None:
            try:
                block = ipaddress.IPv4Network(cidr, strict=True)
                vpc = ipaddress.IPv4Network(self.cidr, strict=False)
                if not block.subnet_of(vpc) or not 16 <= block.prefixlen <= 24:
                    found.append(
                        Problem("network.training_subnet_cidr", cidr, f"a /16 to /24 block inside {self.cidr}")
                    )
            except (ValueError, TypeError):
                found.append(Problem("network.training_subnet_cidr", cidr, "an IPv4 network such as 10.0.224.0/20"))
        for key in ("vpc_id", "private_subnet_ids", "private_route_table_ids", "training_subnet_id"):
            if getattr(self, key):
                found.append(Problem(f"network.{key}", getattr(self, key), "absent when mode is 'new'"))
        return found

    def _existing_vpc_problems(self) -> list[Problem]:
        found: list[Problem] = []
        if self.vpc_id is None or not VPC_ID_PATTERN.match(self.vpc_id):
            found.append(Problem("network.vpc_id", self.vpc_id, "a VPC id such as vpc-0123456789abcdef0"))
        subnets = self.private_subnet_ids
        if len(subnets) < MIN_AZS:
            found.append(Problem("network.private_subnet_ids", list(subnets), f"at least {MIN_AZS} subnet ids"))
        found += [
            Problem("network.private_subnet_ids", s, "a subnet id such as subnet-0123456789abcdef0")
            for s in subnets
            if not SUBNET_ID_PATTERN.match(s)
        ]
        found += [
            Problem("network.private_route_table_ids", r, "a route table id such as rtb-0123456789abcdef0")
            for r in self.private_route_table_ids
            if not ROUTE_TABLE_ID_PATTERN.match(r)
        ]
        for key in ("private_route_table_ids", "availability_zones"):
            values = getattr(self, key)
            if len(values) != len(subnets):
                found.append(Problem(f"network.{key}", list(values), f"one per private subnet ({len(subnets)})"))
        if self.training_subnet_id is not None and self.training_subnet_id not in subnets:
            found.append(
                Problem("network.training_subnet_id", self.training_subnet_id, "one of network.private_subnet_ids")
            )
        for key in ("training_availability_zone_id", "training_subnet_cidr"):
            if getattr(self, key) is not None:
                found.append(
                    Problem(
                        f"network.{key}",
                        getattr(self, key),
                        "absent when mode is 'existing' (name the subnet with training_subnet_id)",
                    )
                )
        return found


@dataclass(frozen=True)
class DataConfig:
    """Sizes and lifetimes of the data stores."""

    lustre_storage_capacity_gib: int = LUSTRE_MIN_GIB
    lustre_throughput_mbps_per_tib: int = 125
    lustre_datasets_path: str = "/datasets"
    noncurrent_version_expiration_days: int = 90
    incomplete_upload_expiration_days: int = 7
    access_log_expiration_days: int = 365

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        size = self.lustre_storage_capacity_gib
        if size != LUSTRE_MIN_GIB and (size < LUSTRE_STEP_GIB or size % LUSTRE_STEP_GIB):
            found.append(
                Problem(
                    "data.lustre_storage_capacity_gib",
                    size,
                    f"{LUSTRE_MIN_GIB} or a multiple of {LUSTRE_STEP_GIB} (PERSISTENT_2)",
                )
            )
        if self.lustre_throughput_mbps_per_tib not in LUSTRE_THROUGHPUTS:
            found.append(
                Problem(
                    "data.lustre_throughput_mbps_per_tib",
                    self.lustre_throughput_mbps_per_tib,
                    f"one of {', '.join(map(str, LUSTRE_THROUGHPUTS))}",
                )
            )
        path = self.lustre_datasets_path
        if not LUSTRE_PATH_PATTERN.match(path):
            found.append(Problem("data.lustre_datasets_path", path, "an absolute path below /, e.g. /datasets"))
        elif path.rstrip("/") == LUSTRE_OUTPUT_PATH or path.startswith(LUSTRE_OUTPUT_PATH + "/"):
            # One file system path per data repository association, neither inside the other (FSx user guide).
            found.append(
                Problem("data.lustre_datasets_path", path, f"a path outside {LUSTRE_OUTPUT_PATH}, the output's")
            )
        for key in (
            "noncurrent_version_expiration_days",
            "incomplete_upload_expiration_days",
            "access_log_expiration_days",
        ):
            if getattr(self, key) < 1:
                found.append(Problem(f"data.{key}", getattr(self, key), "1 or more"))
        return found


# The construct metadata type under which each environment's Network stack carries ``safety_record()``.
SAFETY_METADATA = "platform:safety"


@dataclass(frozen=True)
class EnvironmentConfig:
    """Everything one environment's Stage is built from."""

    name: str
    tags: Tags
    removal_policy: Literal["destroy", "retain"] = "retain"
    # Deleting data takes two decisions: removal_policy destroy, and this. A protected environment never deletes.
    allow_data_deletion: bool = False
    protected: bool = False
    account: str | None = None
    region: str | None = None
    network: NetworkConfig = field(default_factory=NetworkConfig)
    data: DataConfig = field(default_factory=DataConfig)
    cluster: ClusterConfig | None = None
    serving: ServingConfig | None = None
    agent: AgentConfig | None = None
    workflow: WorkflowConfig | None = None
    # Stacks whose section was removed: each is deployed empty, which deletes what it billed for (the CDK leaves a
    # stack that left the app in place), and can then be destroyed and taken off this list.
    retired: tuple[Literal["Training", "Workflow", "Serving", "Agent"], ...] = ()
    # Stateful resources a change may delete (<stack>/<logical id>) or replace (<stack>/<logical id>/<property>):
    # the replacement guard (auditing/replacements.py) fails on any other.
    acknowledged_replacements: tuple[str, ...] = ()
    # The CDK bootstrap this environment deploys through (its roles, cdk-<qualifier>-*). Not isolation: any bootstrap's
    # deploy role may change every stack of its account. Environments sharing an account and Region (or both naming
    # none) share deploy rights whatever their qualifiers, so each lists the others; only separate accounts isolate.
    bootstrap_qualifier: str = DEFAULT_QUALIFIER
    shares_account_with: tuple[str, ...] = ()

    @property
    def is_throwaway(self) -> bool:
        """Data stores of a throwaway environment are deleted with it; all others are retained."""
        return self.removal_policy == "destroy"

    def safety_record(self) -> dict[str, object]:
        """The decisions an auditor asks about that live in config, not in the templates (``SAFETY_METADATA``)."""
        return {
            "protected": self.protected,
            "removal_policy": self.removal_policy,
            "allow_data_deletion": self.allow_data_deletion,
            "shares_account_with": list(self.shares_account_with),
            "bootstrap_qualifier": self.bootstrap_qualifier,
            "retired": list(self.retired),
            "acknowledged_replacements": list(self.acknowledged_replacements),
        }

    def problems(self, expected_name: str) -> list[Problem]:
        found: list[Problem] = []
        if self.name != expected_name:
            found.append(Problem("name", self.name, f"the file's name, {expected_name!r}"))
        if not NAME_PATTERN.match(self.name):
            found.append(Problem("name", self.name, "2-20 lowercase letters, digits or '-', starting with a letter"))
        if self.account is not None and not ACCOUNT_PATTERN.match(self.account):
            found.append(Problem("account", self.account, "a 12-digit AWS account id (quote it in YAML)"))
        if self.region is not None and not REGION_PATTERN.match(self.region):
            found.append(Problem("region", self.region, "an AWS region name such as eu-west-1"))
        elif self.region is not None and self.region not in known_regions():
            found.append(Problem("region", self.region, "a Region botocore knows, such as eu-west-1"))
        if (self.account is None) != (self.region is None):
            found.append(
                Problem("account/region", (self.account, self.region), "both set, or both absent (env-agnostic)")
            )
        if not QUALIFIER_PATTERN.match(self.bootstrap_qualifier):
            found.append(Problem("bootstrap_qualifier", self.bootstrap_qualifier, "1-10 lowercase letters or digits"))
        for entry in self.acknowledged_replacements:
            if not ACKNOWLEDGEMENT_PATTERN.match(entry):
                found.append(
                    Problem(
                        "acknowledged_replacements", entry, "<stack>/<logical id> or <stack>/<logical id>/<property>"
                    )
                )
        sections = {"Training": self.cluster, "Workflow": self.workflow, "Serving": self.serving, "Agent": self.agent}
        for stack in self.retired:
            if sections[stack] is not None:
                found.append(Problem("retired", stack, f"a stack whose section is absent ({stack} has one)"))
        if "Serving" in self.retired and "Agent" not in self.retired and self.agent is None:
            # The agent runs on what Serving serves: with Serving gone, its stack would stay deployed and billing.
            found.append(Problem("retired", list(self.retired), "Agent retired too, when Serving is"))
        if self.removal_policy == "destroy" and self.protected:
            found.append(Problem("removal_policy", "destroy", "retain in a protected environment (protected: true)"))
        elif self.removal_policy == "destroy" and not self.allow_data_deletion:
            found.append(
                Problem(
                    "removal_policy",
                    "destroy",
                    "retain, or destroy together with allow_data_deletion: true (every data store is then deleted "
                    "with its stack)",
                )
            )
        found += self.tags.problems(self.name) + self.network.problems(self.region) + self.data.problems()
        found += self.cluster.problems(self.region) if self.cluster else []
        if self.cluster is not None and not self.network.training_zone_chosen:
            # A training plan's capacity is in one zone; the cluster's subnet must be there ("Request to service
            # failed" otherwise), so the zone is named, not left to the first private subnet.
            planned = self.cluster.training_plan_keys()
            if planned:
                found.append(
                    Problem(
                        planned[0],
                        "a training plan",
                        "network.training_availability_zone_id (or training_subnet_id) set to the plan's zone",
                    )
                )
        found += self.serving.problems(self.region) if self.serving else []
        found += self.workflow.problems(self.region) if self.workflow else []
        if self.serving is not None and self.serving.model_source == "lineage" and self.workflow is None:
            found.append(Problem("serving.model_source", "lineage", "'config' unless a workflow section exists"))
        return found + (self.agent.problems(self.serving is not None) if self.agent else [])
