#!/usr/bin/env bash
# HyperPod runs this on every Slurm node when it is created (LifeCycleConfig.OnCreate).
# It mounts FSx for Lustre, starts the Slurm daemon this node's group needs and installs
# what training jobs use. Settings come from provisioning_parameters.json, written beside
# this script at deploy time; the node's group comes from HyperPod's resource_config.json.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly PARAMS="${SCRIPT_DIR}/provisioning_parameters.json"
readonly RESOURCE_CONFIG="${RESOURCE_CONFIG:-/opt/ml/config/resource_config.json}"
readonly LOG_DIR="/var/log/provision"

mkdir -p "${LOG_DIR}"
exec > >(tee -a "${LOG_DIR}/on_create.log") 2>&1

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "${SCRIPT_DIR}/lib.sh"

main() {
  local group node_type
  group="$(this_instance_group "${RESOURCE_CONFIG}")"
  node_type="$(node_type_of_group "${PARAMS}" "${group}")"
  log "instance group ${group}, Slurm node type ${node_type}"

  mount_lustre "$(param "${PARAMS}" fsx_dns_name)" "$(param "${PARAMS}" fsx_mountname)" /fsx
  install_job_dependencies

  case "${node_type}" in
    Controller) start_service slurmctld ;;
    Login) log "login node: no Slurm daemon" ;;
    Compute) start_service slurmd ;;
    *) fail "unknown Slurm node type '${node_type}' for group '${group}'" ;;
  esac
  log "on_create finished"
}

main "$@"
