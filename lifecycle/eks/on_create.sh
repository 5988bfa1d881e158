#!/usr/bin/env bash
# HyperPod runs this on every EKS node when it is created (LifeCycleConfig.OnCreate, required for EKS).
# FSx for Lustre is mounted by HyperPod itself (InstanceStorageConfigs), and the Kubernetes agents
# arrive through the HyperPod Helm chart. What is left: put container images and pod volumes on the
# instance group's extra EBS volume, which HyperPod mounts at /opt/sagemaker, instead of the small root
# volume that large training images fill. Sources: aws/sagemaker-hyperpod-cluster-setup
# eks/cloudformation/resources/lifecycle-script/base-config/on_create.sh (containerd's root, Amazon Linux 2)
# and awslabs/awsome-distributed-training 7.sagemaker-hyperpod-eks LifecycleScripts/base-config/on_create_main.sh
# (kubelet). Nothing is downloaded: no package mirror or internet access is needed.
set -euo pipefail

# ROOT is empty on a node; tests run the script against a directory tree instead.
readonly ROOT="${LIFECYCLE_ROOT:-}"
readonly VOLUME="${ROOT}/opt/sagemaker"
readonly MOUNTS="${ROOT}/proc/mounts"
readonly AL2_CONFIG="${ROOT}/etc/eks/containerd/containerd-config.toml"
readonly KUBELET_DATA="${ROOT}/var/lib/kubelet"
readonly LOG_DIR="${ROOT}/var/log/provision"
readonly WAIT_SECONDS="${VOLUME_WAIT_SECONDS:-60}"

mkdir -p "${LOG_DIR}"
# HyperPod uploads this file to CloudWatch Logs (LifecycleConfig/<group>/<instance> under /aws/sagemaker/Clusters).
exec > >(tee -a "${LOG_DIR}/provisioning.log") 2>&1

log() { printf '%s [lifecycle] %s\n' "$(date -u +%FT%TZ)" "$*"; }

volume_mounted() { grep -qs " /opt/sagemaker " "${MOUNTS}"; }

wait_for_volume() {
  local waited=0
  until volume_mounted; do
    if ((waited >= WAIT_SECONDS)); then
      log "no volume at /opt/sagemaker after ${WAIT_SECONDS} s: containers stay on the root volume"
      return 1
    fi
    sleep 5
    waited=$((waited + 5))
  done
}

# Amazon Linux 2: the EKS bootstrap reads this file when it starts containerd.
move_containerd_al2() {
  sed -i -e "/^[# ]*root\s*=/c\\root = \"/opt/sagemaker/containerd/data-root\"" "${AL2_CONFIG}"
  grep -q '^root = "/opt/sagemaker/containerd/data-root"' "${AL2_CONFIG}" || {
    log "containerd's root was not set in ${AL2_CONFIG}"
    return 1
  }
  log "containerd's root is /opt/sagemaker/containerd/data-root (Amazon Linux 2)"
}

move_kubelet() {
  if [[ -L "${KUBELET_DATA}" ]]; then
    return 0
  fi
  mkdir -p "${VOLUME}/kubelet"
  if [[ -d "${KUBELET_DATA}" ]]; then
    cp -a "${KUBELET_DATA}/." "${VOLUME}/kubelet/"
    rm -rf "${KUBELET_DATA}"
  fi
  ln -s /opt/sagemaker/kubelet "${KUBELET_DATA}"
  log "kubelet's data is on /opt/sagemaker/kubelet"
}

main() {
  log "node $(hostname) created; resource config ${RESOURCE_CONFIG:-/opt/ml/config/resource_config.json}"
  wait_for_volume || return 0
  if [[ -f "${AL2_CONFIG}" ]]; then
    move_containerd_al2
  else
    # Amazon Linux 2023 writes containerd's configuration later (nodeadm), so it is not changed here.
    log "no Amazon Linux 2 containerd configuration: images stay on the root volume"
  fi
  move_kubelet
  log "on_create finished"
}

main "$@"
