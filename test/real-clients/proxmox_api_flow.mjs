// The npm `proxmox-api` package (generated from the PVE API schema; nobody here wrote it) against the
// workerctl simulator: clone, configure, resize, start, guest agent, shutdown, delete, with an API token.
// run.sh installs the package into a temporary directory and runs this file from there.
// Usage: node proxmox_api_flow.mjs HOST:PORT TOKEN   (TOKEN = USER@REALM!TOKENID=SECRET)
import { setTimeout as sleep } from 'node:timers/promises';
import proxmoxApi from 'proxmox-api';
import { Agent, fetch as undiciFetch } from 'undici';

const [hostport, token] = process.argv.slice(2);
const [host, port] = hostport.split(':');
const eq = token.lastIndexOf('=');
// the simulator's certificate is self-signed for this run only
const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
const px = proxmoxApi({
  host,
  port: Number(port),
  tokenID: token.slice(0, eq),
  tokenSecret: token.slice(eq + 1),
  fetch: (url, init) => undiciFetch(url, { ...init, dispatcher }),
});

const step = (msg) => console.log(`proxmox-api: ${msg}`);
const fail = (msg) => {
  console.error(`proxmox-api: FAILED: ${msg}`);
  process.exit(1);
};
const assert = (cond, msg) => cond || fail(msg);

async function wait(node, upid, timeoutMs = 60000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const st = await px.nodes.$(node).tasks.$(upid).status.$get();
    if (st.status === 'stopped') {
      if (st.exitstatus !== 'OK') fail(`task ${upid} failed: ${st.exitstatus}`);
      return st;
    }
    await sleep(50);
  }
  fail(`task ${upid} timed out`);
}

const node = px.nodes.$('pve1');
assert((await px.version.$get()).release, 'no version');
const newid = Number(await px.cluster.nextid.$get());
step(`clone template 9000 -> ${newid}`);
const upid = await node.qemu.$(9000).clone.$post({ newid, name: 'pxapi-worker', full: true });
assert(upid.includes(':qmclone:9000:'), upid);
await wait('pve1', upid);
const vm = node.qemu.$(newid);

step('configure');
const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC1RPXoS5zsdYY7yj0vMj5RBeWgmKeNzPnZBi9ZJn9v7 ops@example';
const before = await vm.config.$get();
const res = await vm.config.$put({
  cores: 2,
  memory: '2048',
  tags: 'Workerctl,pxapi',
  ipconfig0: 'ip=10.0.0.92/24,gw=10.0.0.1',
  sshkeys: encodeURIComponent(key),
  onboot: false,
  digest: before.digest,
});
assert(res === null, `config PUT returned ${JSON.stringify(res)}`);
const cfg = await vm.config.$get();
assert(cfg.tags === 'pxapi;workerctl', cfg.tags);
assert(cfg.cores === 2 && cfg.memory === '2048', JSON.stringify(cfg));
assert(cfg.sshkeys === encodeURIComponent(key), cfg.sshkeys);
try {
  await vm.config.$put({ description: 'stale', digest: before.digest });
  fail('a stale digest must be refused');
} catch (e) {
  assert(/checksum mismatch/.test(String(e)), String(e));
}

step('resize');
await wait('pve1', await vm.resize.$put({ disk: 'scsi0', size: '+10G' }));
assert(/size=110G/.test((await vm.config.$get()).scsi0), 'disk not grown');

step('start');
await wait('pve1', await vm.status.start.$post());
assert((await vm.status.current.$get()).status === 'running', 'not running');

step('guest agent');
const end = Date.now() + 60000;
for (;;) {
  try {
    await vm.agent.ping.$post();
    break;
  } catch (e) {
    if (!/not running/.test(String(e)) || Date.now() > end) throw e;
    await sleep(50);
  }
}
const ifaces = (await vm.agent['network-get-interfaces'].$get()).result;
assert(
  ifaces.some((i) => i['ip-addresses'].some((a) => a['ip-address'] === '10.0.0.92')),
  JSON.stringify(ifaces),
);
const { pid } = await vm.agent.exec.$post({ command: ['ping', '-c', '1', '10.0.0.50'] });
let st;
for (;;) {
  st = await vm.agent['exec-status'].$get({ pid });
  if (st.exited === 1) break;
  await sleep(20);
}
assert(st.exitcode === 0 && /1 received/.test(st['out-data']), JSON.stringify(st));

step('shutdown');
await wait('pve1', await vm.status.shutdown.$post({ timeout: 60 }));
assert((await vm.status.current.$get()).status === 'stopped', 'not stopped');

step('delete');
await wait('pve1', await vm.$delete({ purge: true }));
try {
  await vm.config.$get();
  fail('VM still there');
} catch (e) {
  assert(/does not exist/.test(String(e)), String(e));
}
console.log('proxmox-api: OK');
