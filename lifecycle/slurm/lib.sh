#!/usr/bin/env bash
# Functions the Slurm lifecycle scripts share. Sourced, never run.

log() { printf '%s [lifecycle] %s\n' "$(date -u +%FT%TZ)" "$*"; }

fail() {
  log "ERROR: $*"
  exit 1
}

# param FILE KEY: a top-level string value of the provisioning parameters.
param() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2" ||
    fail "provisioning parameter '$2' missing from $1"
}

# this_instance_group RESOURCE_CONFIG: the group whose instance has one of this host's IPs.
this_instance_group() {
  local ips
  ips="$(hostname -I)"
  python3 - "$1" "${ips}" <<'PY' || fail "this host is not in $1"
import json, sys
config, ips = json.load(open(sys.argv[1])), set(sys.argv[2].split())
for group in config["InstanceGroups"]:
    for instance in group["Instances"]:
        if {instance.get("CustomerIpAddress"), instance.get("AgentIpAddress")} & ips:
            print(group["Name"])
            sys.exit(0)
sys.exit(1)
PY
}

# node_type_of_group PARAMS GROUP: Controller, Login or Compute.
node_type_of_group() {
  python3 - "$1" "$2" <<'PY' || fail "group '$2' is not in $1"
import json, sys
params, group = json.load(open(sys.argv[1])), sys.argv[2]
if params["controller_group"] == group:
    print("Controller")
elif params.get("login_group") == group:
    print("Login")
elif any(worker["instance_group_name"] == group for worker in params["worker_groups"]):
    print("Compute")
else:
    sys.exit(1)
PY
}

# mount_lustre DNS_NAME MOUNT_NAME MOUNT_POINT: mount now and at every boot.
mount_lustre() {
  local dns_name="$1" mount_name="$2" mount_point="$3"
  local source="${dns_name}@tcp:/${mount_name}"
  mkdir -p "${mount_point}"
  if ! grep -qs " ${mount_point} lustre " /proc/mounts; then
    for attempt in 1 2 3 4 5; do
      mount -t lustre -o relatime,flock "${source}" "${mount_point}" && break
      log "mount attempt ${attempt} of ${source} failed; retrying"
      sleep $((attempt * 10))
    done
  fi
  grep -qs " ${mount_point} lustre " /proc/mounts || fail "could not mount ${source} on ${mount_point}"
  grep -qs "^${source} " /etc/fstab ||
    echo "${source} ${mount_point} lustre defaults,relatime,flock,_netdev,x-systemd.automount 0 0" >>/etc/fstab
  log "mounted ${source} on ${mount_point}"
}

# install_job_dependencies: what training jobs expect on every node.
install_job_dependencies() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q python3-venv jq
}

start_service() {
  systemctl enable --now "$1" || fail "could not start $1"
  log "started $1"
}
