"""Network of one environment: VPC, flow logs, endpoints and security groups."""

from __future__ import annotations

from config.model import EnvironmentConfig, NetworkConfig
from constructs import Construct
from constructs.platform_key import PlatformKey
from constructs.training_network import (
    ExistingVpcProps,
    NewVpcProps,
    TrainingNetwork,
    TrainingNetworkProps,
    TrainingZone,
)
from stacks.platform_stack import PlatformStack


class NetworkStack(PlatformStack):
    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id, config=config, description="VPC, endpoints and security groups")
        logs_key = PlatformKey(self, "LogsKey", description=f"{config.name}: VPC flow logs", retain=True).key
        self.network = TrainingNetwork(
            self,
            "Network",
            TrainingNetworkProps(
                vpc=_vpc_props(config.network),
                flow_log_retention=self.log_retention,
                flow_log_key=logs_key,
                interface_endpoints=config.network.interface_endpoints,
            ),
        )


def _vpc_props(network: NetworkConfig) -> NewVpcProps | ExistingVpcProps:
    if network.mode == "new":
        zone = None
        if network.training_availability_zone_id is not None and network.training_subnet_cidr is not None:
            zone = TrainingZone(network.training_availability_zone_id, network.training_subnet_cidr)
        return NewVpcProps(
            cidr=network.cidr, az_count=network.az_count, nat_gateways=network.nat_gateways, training_zone=zone
        )
    assert network.vpc_id is not None  # the config model rejects an existing VPC without an id
    return ExistingVpcProps(
        vpc_id=network.vpc_id,
        cidr=network.cidr,
        availability_zones=network.availability_zones,
        private_subnet_ids=network.private_subnet_ids,
        private_route_table_ids=network.private_route_table_ids,
        training_subnet_id=network.training_subnet_id,
    )
