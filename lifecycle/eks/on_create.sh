#!/usr/bin/env bash
# HyperPod runs this on every EKS node when it is created (LifeCycleConfig.OnCreate).
# FSx for Lustre is mounted by HyperPod itself (InstanceStorageConfigs), and the Kubernetes
# agents arrive through the HyperPod Helm chart, so the node only records its provisioning.
set -euo pipefail

readonly LOG_DIR="/var/log/provision"
mkdir -p "${LOG_DIR}"
exec > >(tee -a "${LOG_DIR}/on_create.log") 2>&1

printf '%s [lifecycle] node %s created in instance group resource config %s\n' \
  "$(date -u +%FT%TZ)" "$(hostname)" "${RESOURCE_CONFIG:-/opt/ml/config/resource_config.json}"
