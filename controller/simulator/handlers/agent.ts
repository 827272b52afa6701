/**
 * QEMU guest agent calls (qemu-server PVE/API2/Qemu/Agent.pm): ping, network-get-interfaces, get-osinfo,
 * exec, exec-status. They are `protected`, so they hold one of the node's pvedaemon workers while they wait.
 */
import { parseNet, parseProps } from '../config/values.js';
import { fail } from '../http/api-error.js';
import type { ApiRequest } from '../http/router.js';
import type { GuestEnv } from '../guest.js';
import { sleep } from '../latency.js';
import type { Simulator } from '../simulator.js';
import type { VmState } from '../world/state.js';
import { num, optStr, str } from './params.js';

/** qemu-server PVE/QemuServer/Agent.pm qga_check_running: guest-ping with a 3 s timeout. */
const GUEST_PING_TIMEOUT_S = 3;

/**
 * qemu-server PVE/QemuServer/Agent.pm assert_agent_available, in its order: `agent` configured, VM running,
 * then qga_check_running. With the agent enabled QEMU has the qga socket, so a guest whose agent does not
 * answer is noticed only when guest-ping times out (PVE/QMPClient.pm: "got timeout" after 3 s); with
 * `agent: 0` there is no socket (PVE/QemuServer/Monitor.pm qmp_cmd: "unable to open monitor socket") and
 * the answer is immediate.
 */
async function agentVm(sim: Simulator, req: ApiRequest): Promise<VmState> {
  const vm = sim.world.vmAt(str(req, 'node'), num(req, 'vmid'));
  if (vm.config.agent === undefined) throw fail('No QEMU guest agent configured');
  if (vm.status !== 'running') throw fail(`VM ${vm.vmid} is not running`);
  if (!sim.agentRunning(vm)) {
    if (parseProps(vm.config.agent, 'enabled').enabled !== '1') throw fail('QEMU guest agent is not running');
    // the ping is answered as soon as the agent comes up within the timeout
    const timeout = sim.latency.secondsToReal(GUEST_PING_TIMEOUT_S);
    const readyAt = sim.faults.has('agentNever', { vmid: vm.vmid }) ? undefined : vm.guest.agentReadyAt;
    const upIn = readyAt === undefined ? Infinity : readyAt - Date.now();
    await sleep(Math.min(timeout, Math.max(0, upIn)));
    if (!sim.agentRunning(vm)) throw fail('QEMU guest agent is not running');
  }
  await sleep(sim.latency.toReal(sim.latency.draw('agentCall')));
  return vm;
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}
function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/**
 * The IPv4 address of NIC netN: static from the booted ipconfigN, else a DHCP lease on its bridge/VLAN.
 * ASSUMPTION: a NIC that cloud-init does not configure gets what the guest image does by default, which
 * we take to be DHCP - on every NIC of a guest booted with cloud-init data, on net0 only without it
 * (no cloud-init drive: Cloudinit.pm generates nothing, so the image's own network config applies).
 */
function nicAddress(
  sim: Simulator,
  vm: VmState,
  idx: number,
  mac: string,
  bridge?: string,
  tag?: string,
): { ip: string; prefix: number } | undefined {
  if (!vm.guest.cloudinit && idx !== 0) return undefined;
  const ipconfig = vm.guest.applied[`ipconfig${idx}`];
  const ip = ipconfig ? parseProps(ipconfig).ip : undefined;
  if (ip && ip !== 'dhcp') {
    const [addr, prefix] = ip.split('/');
    return { ip: addr, prefix: Number(prefix) };
  }
  const dhcp = sim.world.network.dhcp ?? {};
  const subnet = (tag && dhcp[`${bridge}.${tag}`]) || (!tag && bridge ? dhcp[bridge] : undefined);
  if (!subnet) return undefined;
  const lease = sim.world.leases.get(mac);
  const [base, prefix] = subnet.split('/');
  if (lease) return { ip: lease, prefix: Number(prefix) };
  const start = (ipToInt(base) & ~((1 << (32 - Number(prefix))) - 1)) + 100;
  const used = new Set(sim.world.leases.values());
  let n = start;
  while (used.has(intToIp(n))) n++;
  sim.world.leases.set(mac, intToIp(n));
  return { ip: intToIp(n), prefix: Number(prefix) };
}

/** The guest's interfaces (lo + one ethN per netN). */
export function guestInterfaces(
  sim: Simulator,
  vm: VmState,
): Array<{ name: string; mac: string; ip?: string; prefix?: number }> {
  const out: Array<{ name: string; mac: string; ip?: string; prefix?: number }> = [
    { name: 'lo', mac: '00:00:00:00:00:00', ip: '127.0.0.1', prefix: 8 },
  ];
  const nets = Object.keys(vm.config)
    .filter((k) => /^net\d+$/.test(k))
    .sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)));
  for (const key of nets) {
    const idx = Number(key.slice(3));
    const n = parseNet(vm.config[key]);
    if (n.rest.link_down === '1') continue;
    const addr = nicAddress(sim, vm, idx, n.mac, n.bridge, n.tag);
    out.push({ name: `eth${idx}`, mac: n.mac.toLowerCase(), ...addr });
  }
  return out;
}

export async function postPing(sim: Simulator, req: ApiRequest): Promise<unknown> {
  await agentVm(sim, req);
  return { result: {} };
}

export async function getNetworkInterfaces(sim: Simulator, req: ApiRequest): Promise<unknown> {
  const vm = await agentVm(sim, req);
  return {
    result: guestInterfaces(sim, vm).map((i) => ({
      name: i.name,
      'hardware-address': i.mac,
      'ip-addresses': [
        ...(i.ip ? [{ 'ip-address': i.ip, 'ip-address-type': 'ipv4', prefix: i.prefix }] : []),
        i.name === 'lo'
          ? { 'ip-address': '::1', 'ip-address-type': 'ipv6', prefix: 128 }
          : {
              'ip-address': `fe80::be24:11ff:fe${i.mac.slice(9, 11)}:${i.mac.slice(12, 14)}${i.mac.slice(15, 17)}`,
              'ip-address-type': 'ipv6',
              prefix: 64,
            },
      ],
      statistics: {
        'rx-bytes': 1024,
        'rx-packets': 10,
        'rx-errs': 0,
        'rx-dropped': 0,
        'tx-bytes': 2048,
        'tx-packets': 12,
        'tx-errs': 0,
        'tx-dropped': 0,
      },
    })),
  };
}

export async function getOsInfo(sim: Simulator, req: ApiRequest): Promise<unknown> {
  const vm = await agentVm(sim, req);
  const os = vm.guest.os;
  return {
    result: {
      id: /rocky/i.test(os) ? 'rocky' : 'linux',
      name: os.split(' ')[0] + (os.split(' ')[1] === 'Linux' ? ' Linux' : ''),
      'pretty-name': os,
      version: os.replace(/^[^0-9]*/, ''),
      'version-id': (/\d+(\.\d+)?/.exec(os) ?? ['1'])[0],
      'kernel-release': '5.14.0-503.14.1.el9_5.x86_64',
      'kernel-version': '#1 SMP PREEMPT_DYNAMIC',
      machine: 'x86_64',
    },
  };
}

/** What guest commands see of the world. */
function guestEnv(sim: Simulator, vm: VmState): GuestEnv {
  return {
    reachable: (ip) => {
      const net = sim.world.network;
      if ((net.unreachable ?? []).includes(ip)) return false;
      if (ip === net.backupServer || (net.reachable ?? []).includes(ip)) return true;
      for (const n of sim.world.nodes.values()) if (n.ip === ip) return true;
      if (ip.startsWith('127.')) return true;
      for (const other of sim.world.vms.values()) {
        if (other.status !== 'running') continue;
        for (const i of guestInterfaces(sim, other)) if (i.ip === ip && i.name !== 'lo') return true;
      }
      return false;
    },
    addresses: () =>
      guestInterfaces(sim, vm)
        .filter((i) => i.ip)
        .map((i) => ({ name: i.name, ip: i.ip as string, prefix: i.prefix ?? 24 })),
    // Cloudinit.pm get_hostname_fqdn (name, else VM<vmid>, up to the first dot); ASSUMPTION: without
    // cloud-init the image keeps its own hostname, taken to be "localhost"
    hostname: () =>
      vm.guest.cloudinit ? (vm.guest.applied.name ?? `VM${vm.vmid}`).replace(/\..*$/, '') : 'localhost',
    os: () => vm.guest.os,
  };
}

export async function postExec(sim: Simulator, req: ApiRequest): Promise<unknown> {
  const vm = await agentVm(sim, req);
  const command = (req.params.command as string[]) ?? [];
  if (command.length === 0)
    throw fail("Agent error: Guest agent command failed, error was 'Invalid parameter 'path''");
  void optStr(req, 'input-data');
  const result = sim.guestCommands.run(command, guestEnv(sim, vm));
  const simMs = result.durationMs ?? sim.latency.draw((result.durationKey ?? 'exec') as 'exec');
  const pid = vm.guest.nextPid++;
  vm.guest.execs.set(pid, {
    pid,
    command: command.join(' '),
    endsAt: Date.now() + sim.latency.toReal(simMs),
    exitCode: result.exitCode,
    stdout: result.stdout ?? '',
    stderr: result.stderr ?? '',
  });
  return { pid };
}

export async function getExecStatus(sim: Simulator, req: ApiRequest): Promise<unknown> {
  const vm = await agentVm(sim, req);
  const exec = vm.guest.execs.get(num(req, 'pid'));
  if (!exec) throw fail(`Agent error: Invalid parameter 'pid'`);
  if (Date.now() < exec.endsAt) return { exited: 0 };
  const out: Record<string, unknown> = { exited: 1, exitcode: exec.exitCode };
  if (exec.stdout) out['out-data'] = exec.stdout;
  if (exec.stderr) out['err-data'] = exec.stderr;
  vm.guest.execs.delete(exec.pid);
  return out;
}
