#!/usr/bin/env bash
# Real Proxmox clients against `workerctl simulator --tls`: proxmoxer 1.2.0 (a Python flow), Ansible's
# community.general.proxmox_kvm (a playbook) and the npm `proxmox-api` package (a Node flow). Installs
# python3-proxmoxer and ansible with apt-get when missing, and proxmox-api with npm into a temporary
# directory (never into the project). Not part of `make test`; run with `make real-clients`. Extra
# simulator options go in SIM_ARGS, e.g. SIM_ARGS='--latency realistic --time-scale 100'.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

# the apt packages live in the system Python (pyenv or venv shims on PATH do not see them)
PY=/usr/bin/python3
[ -x "$PY" ] || PY="$(command -v python3)"
missing=()
"$PY" -c 'import proxmoxer' 2>/dev/null || missing+=(python3-proxmoxer)
command -v ansible-playbook >/dev/null 2>&1 || missing+=(ansible)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "real-clients: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

[ -f dist/controller/main.js ] || npx tsc -p tsconfig.json

work="$(mktemp -d)"
# proxmox-api (and its undici) in a throwaway package, pinned; the flow runs from there to resolve it
PROXMOX_API_VERSION=1.1.1
mkdir -p "$work/pxapi"
echo '{"name":"real-clients-pxapi","private":true,"type":"module"}' >"$work/pxapi/package.json"
echo "real-clients: installing proxmox-api@$PROXMOX_API_VERSION into a temporary directory"
npm install --prefix "$work/pxapi" --no-audit --no-fund --no-save --silent "proxmox-api@$PROXMOX_API_VERSION"
cp "$here/proxmox_api_flow.mjs" "$work/pxapi/"
secret="$("$PY" -c 'import uuid; print(uuid.uuid4())')"
token="root@pam!realclients=${secret}"
password="$("$PY" -c 'import secrets; print(secrets.token_hex(12))')"
# shellcheck disable=SC2086 # SIM_ARGS holds extra simulator options, e.g. "--latency realistic --time-scale 100"
node dist/controller/main.js simulator --port 0 --tls --token "$token" --password "$password" -o json ${SIM_ARGS:-} \
  >"$work/sim.json" 2>"$work/sim.log" &
sim_pid=$!
cleanup() { kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

for _ in $(seq 100); do [ -s "$work/sim.json" ] && break; sleep 0.05; done
[ -s "$work/sim.json" ] || { echo "real-clients: simulator did not start"; cat "$work/sim.log"; exit 1; }
url="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$work/sim.json")"
hostport="${url#https://}"
echo "real-clients: simulator at $url"

"$PY" "$here/proxmoxer_flow.py" "$hostport" "$token" "$password"

ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false ANSIBLE_NOCOLOR=1 \
  ansible-playbook -i localhost, "$here/playbook.yml" \
  -e "sim_host=$hostport" -e "sim_user=root@pam" -e "sim_token_id=realclients" -e "sim_token_secret=$secret" -e "ansible_python_interpreter=$PY"

node "$work/pxapi/proxmox_api_flow.mjs" "$hostport" "$token"

violations="$(curl -sk "$url/_sim/violations")"
if [ "$violations" != "[]" ]; then
  echo "real-clients: the simulator refused requests of a real client as schema violations:"
  echo "$violations"
  exit 1
fi
echo "real-clients: OK (proxmoxer, ansible proxmox_kvm and proxmox-api passed; no schema violations)"
