#!/usr/bin/env python3
"""proxmoxer 1.2.0 against the workerctl simulator: token and ticket auth, clone, configure, start,
guest agent, stop, delete. Usage: proxmoxer_flow.py HOST:PORT TOKEN PASSWORD"""
import sys
import time
from urllib.parse import quote

from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException

host, token, password = sys.argv[1], sys.argv[2], sys.argv[3]
user_tok, secret = token.rsplit("=", 1)
user, token_name = user_tok.split("!")

px = ProxmoxAPI(host, user=user, token_name=token_name, token_value=secret, verify_ssl=False)


def wait(node, upid, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        st = px.nodes(node).tasks(upid).status.get()
        if st["status"] == "stopped":
            if st["exitstatus"] != "OK":
                raise SystemExit(f"task {upid} failed: {st['exitstatus']}")
            return st
        time.sleep(0.05)
    raise SystemExit(f"task {upid} timed out")


def step(msg):
    print(f"proxmoxer: {msg}", flush=True)


assert px.version.get()["release"], "no version"
newid = int(px.cluster.nextid.get())
step(f"clone template 9000 -> {newid}")
upid = px.nodes("pve1").qemu(9000).clone.post(newid=newid, name="px-worker", full=1)
assert f":qmclone:9000:" in upid, upid
wait("pve1", upid)

key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC1RPXoS5zsdYY7yj0vMj5RBeWgmKeNzPnZBi9ZJn9v7 ops@example"
step("configure")
res = px.nodes("pve1").qemu(newid).config.put(
    cores=2, memory=2048, tags="Workerctl,px", ipconfig0="ip=10.0.0.90/24,gw=10.0.0.1",
    sshkeys=quote(key, safe=""), onboot=1, description="managed by proxmoxer test\n",
)
assert res is None, res
cfg = px.nodes("pve1").qemu(newid).config.get()
assert cfg["tags"] == "px;workerctl", cfg["tags"]
assert cfg["memory"] == "2048", cfg["memory"]
assert cfg["cores"] == 2, cfg["cores"]
assert cfg["net0"].startswith("virtio=BC:24:11:"), cfg["net0"]
assert cfg["sshkeys"] == quote(key, safe=""), cfg["sshkeys"]
# /cluster/resources shows a fresh VM's name only after pvestatd's next broadcast (every 10 s)
end = time.time() + 15
while True:
    vms = [v for v in px.cluster.resources.get(type="vm") if v["vmid"] == newid]
    if vms and vms[0].get("name") == "px-worker":
        break
    assert time.time() < end, vms
    time.sleep(0.1)

step("start")
wait("pve1", px.nodes("pve1").qemu(newid).status.start.post())
assert px.nodes("pve1").qemu(newid).status.current.get()["status"] == "running"
try:
    px.nodes("pve1").qemu(newid).status.start.post()  # task error, not an HTTP error
except ResourceException as e:
    raise SystemExit(f"start of a running VM should be a task error: {e}")

step("guest agent")
end = time.time() + 30
while True:
    try:
        px.nodes("pve1").qemu(newid).agent.ping.post()
        break
    except ResourceException as e:
        if "not running" not in str(e) or time.time() > end:
            raise
        time.sleep(0.05)
ifaces = px.nodes("pve1").qemu(newid).agent("network-get-interfaces").get()["result"]
assert any(a["ip-address"] == "10.0.0.90" for i in ifaces for a in i["ip-addresses"]), ifaces
pid = px.nodes("pve1").qemu(newid).agent.exec.post(command=["ping", "-c", "1", "10.0.0.50"])["pid"]
while True:
    st = px.nodes("pve1").qemu(newid).agent("exec-status").get(pid=pid)
    if st["exited"] == 1:
        break
    time.sleep(0.02)
assert st["exitcode"] == 0 and "1 received" in st["out-data"], st

step("errors come back in the reason phrase")
try:
    px.nodes("pve1").qemu(newid).delete()
    raise SystemExit("delete of a running VM must fail")
except ResourceException as e:
    assert "is running - destroy failed" in str(e), str(e)

step("stop and delete")
wait("pve1", px.nodes("pve1").qemu(newid).status.stop.post())
wait("pve1", px.nodes("pve1").qemu(newid).delete(purge=1))
try:
    px.nodes("pve1").qemu(newid).config.get()
    raise SystemExit("VM still there")
except ResourceException as e:
    assert "does not exist" in str(e), str(e)

step("ticket auth with CSRF")
pw = ProxmoxAPI(host, user="root@pam", password=password, verify_ssl=False)
assert pw.version.get()["version"]
nid = int(pw.cluster.nextid.get())
upid = pw.nodes("pve1").qemu(9000).clone.post(newid=nid, name="px-ticket")
wait("pve1", upid)
wait("pve1", pw.nodes("pve1").qemu(nid).delete())
print("proxmoxer: OK", flush=True)
