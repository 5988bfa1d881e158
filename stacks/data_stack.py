"""Data stores of one environment: the platform key, buckets and FSx for Lustre."""

from __future__ import annotations

import aws_cdk as cdk

from config.model import LUSTRE_OUTPUT_PATH, EnvironmentConfig
from constructs import Construct
from constructs.data_stores import DataStores, DataStoresProps
from constructs.datasets_file_system import DatasetsFileSystem, DatasetsFileSystemProps
from constructs.platform_key import PlatformKey
from constructs.training_network import TrainingNetwork
from stacks.platform_stack import PlatformStack


class DataStack(PlatformStack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, network: TrainingNetwork
    ) -> None:
        super().__init__(scope, construct_id, config=config, description="KMS key, S3 buckets, FSx for Lustre")
        data = config.data
        retain = not config.is_throwaway
        self.key = PlatformKey(self, "PlatformKey", description=f"{config.name}: platform data", retain=retain).key
        self.stores = DataStores(
            self,
            "Stores",
            DataStoresProps(
                key=self.key,
                retain=retain,
                noncurrent_version_expiration=cdk.Duration.days(data.noncurrent_version_expiration_days),
                incomplete_upload_expiration=cdk.Duration.days(data.incomplete_upload_expiration_days),
                access_log_expiration=cdk.Duration.days(data.access_log_expiration_days),
            ),
        )
        self.datasets_file_system = DatasetsFileSystem(
            self,
            "DatasetsFileSystem",
            DatasetsFileSystemProps(
                vpc=network.vpc,
                subnet=network.training_subnet,
                security_group=network.lustre_security_group,
                datasets_bucket=self.stores.datasets_bucket,
                key=self.key,
                storage_capacity_gib=data.lustre_storage_capacity_gib,
                throughput_mbps_per_tib=data.lustre_throughput_mbps_per_tib,
                file_system_path=data.lustre_datasets_path,
                retain=retain,
                output_bucket=self.stores.artifacts_bucket,
                output_path=LUSTRE_OUTPUT_PATH,
            ),
        )
