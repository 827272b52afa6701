/**
 * Every request the client can build, with every option set, checked against the real PVE schema
 * (9.1 and 8.4): the path and method exist, each parameter is defined, required ones are present, and
 * booleans, integers and enums have the text form PVE accepts. Independent of the simulator.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { pveSchemaPath } from '../../controller/paths.js';
import { createProxmoxClient, type HttpProxmoxClient } from '../../controller/proxmox/http-client.js';
import { LOCAL_NODE, budgetOf } from '../../controller/proxmox/node-budget.js';
import {
  TEST_TOKEN,
  UPID_CLONE,
  ok,
  startWireServer,
  type Recorded,
  type WireServer,
} from '../helpers/wire-server.js';

interface SchemaProp {
  type?: string;
  optional?: number;
  enum?: string[];
}
interface SchemaNode {
  path: string;
  info?: Record<string, { protected?: number; parameters?: { properties?: Record<string, SchemaProp> } }>;
  children?: SchemaNode[];
}

function loadEndpoints(version: '9.1' | '8.4') {
  const roots = JSON.parse(readFileSync(pveSchemaPath(version), 'utf8')) as SchemaNode[];
  const out: {
    re: RegExp;
    path: string;
    method: string;
    props: Record<string, SchemaProp>;
    protected: boolean;
  }[] = [];
  const walk = (n: SchemaNode) => {
    for (const [method, info] of Object.entries(n.info ?? {})) {
      const re = new RegExp(`^${n.path.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      out.push({
        re,
        path: n.path,
        method,
        props: info.parameters?.properties ?? {},
        protected: info.protected === 1,
      });
    }
    n.children?.forEach(walk);
  };
  roots.forEach(walk);
  return out;
}

/** The schema property for a key, resolving indexed keys such as net0 -> net[n]. */
function propFor(props: Record<string, SchemaProp>, key: string): SchemaProp | undefined {
  return props[key] ?? props[key.replace(/\d+$/, '[n]')];
}

function check(endpoints: ReturnType<typeof loadEndpoints>, r: Recorded): string[] {
  const problems: string[] = [];
  const ep = endpoints.find((e) => e.method === r.method && e.re.test(r.path));
  if (!ep) return [`${r.method} ${r.path}: no such endpoint`];
  const params = new URLSearchParams(r.method === 'GET' || r.method === 'DELETE' ? r.query : r.body);
  const pathKeys = [...ep.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
  for (const [key, value] of params) {
    const prop = propFor(ep.props, key);
    if (!prop || pathKeys.includes(key)) {
      problems.push(`${r.method} ${ep.path}: parameter '${key}' is not in the schema`);
      continue;
    }
    if (prop.type === 'boolean' && !/^[01]$/.test(value)) problems.push(`${key}: boolean '${value}'`);
    if (prop.type === 'integer' && !/^[+-]?\d+$/.test(value)) problems.push(`${key}: integer '${value}'`);
    if (prop.enum && !prop.enum.includes(value)) problems.push(`${key}: '${value}' not in enum`);
  }
  for (const [key, prop] of Object.entries(ep.props)) {
    if (!prop.optional && !pathKeys.includes(key) && !key.includes('[n]') && !params.has(key)) {
      problems.push(`${r.method} ${ep.path}: required parameter '${key}' missing`);
    }
  }
  return problems;
}

describe('proxmox client: requests conform to the PVE schema', () => {
  let server: WireServer;
  let client: HttpProxmoxClient;

  before(async () => {
    server = await startWireServer((req, res) => {
      if (req.path.endsWith('/agent/exec')) return ok(res, { pid: 1 });
      if (req.path.endsWith('/access/ticket'))
        return ok(res, { ticket: 'PVE:a@pam:00000000::x', CSRFPreventionToken: 'y' });
      if (req.path === '/cluster/nextid') return ok(res, '100');
      const lists = [
        '/nodes',
        '/cluster/resources',
        '/cluster/status',
        '/storage',
        '/log',
        '/tasks',
        '/network-get-interfaces',
      ];
      if (req.method === 'GET') return ok(res, lists.some((l) => req.path.endsWith(l)) ? [] : {});
      ok(res, UPID_CLONE);
    });
    client = createProxmoxClient({ url: server.url, auth: { kind: 'token', token: TEST_TOKEN } });
    const task = { upid: UPID_CLONE, node: 'pve1' };
    const change = {
      set: {
        cores: 2,
        memory: 4096,
        onboot: true,
        name: 'w-1',
        tags: 'a;b',
        sshkeys: 'ssh-ed25519 AAAA x',
        net0: 'virtio,bridge=vmbr0',
      },
      delete: ['ide2'],
      digest: 'abc',
    };
    await client.version();
    await client.nodes();
    await client.storages('pve1', { content: 'images', enabled: true });
    await client.vmResources();
    await client.nextId();
    await client.nextId(150);
    await client.getConfig('pve1', 101, { current: true });
    await client.updateConfig('pve1', 101, change);
    await client.updateConfigAsync('pve1', 101, change);
    await client.resizeDisk('pve1', 101, 'scsi0', '+10G');
    await client.clone('pve1', 9000, {
      newid: 150,
      name: 'w-1',
      description: 'd',
      full: true,
      storage: 'local-lvm',
      format: 'raw',
      target: 'pve2',
      pool: 'workers',
    });
    await client.create('pve1', 151, {
      name: 'w-2',
      memory: 2048,
      agent: true,
      scsi0: 'local-lvm:32',
      ipconfig0: 'ip=dhcp',
    });
    await client.status('pve1', 101);
    await client.start('pve1', 101);
    await client.shutdown('pve1', 101, { timeout: 60, forceStop: false });
    await client.stop('pve1', 101);
    await client.reboot('pve1', 101);
    await client.deleteVm('pve1', 101, { purge: true, destroyUnreferencedDisks: true, skiplock: true });
    await client.updateConfig('pve1', 101, { set: {}, delete: ['lock'], skiplock: true });
    await client.moveDisk('pve2', 101, { disk: 'scsi0', storage: 'local-lvm', delete: true, digest: 'abc' });
    await client.migrate('pve1', 101, { target: 'pve2', targetstorage: 'local-lvm', online: false });
    await client.clusterNodes();
    await client.tasks('pve1', { source: 'all', type: 'qmclone', vmid: 9000, since: 1738162747, limit: 500 });
    await client.agentPing('pve1', 101);
    await client.agentNetworkInterfaces('pve1', 101);
    await client.agentExec('pve1', 101, ['ls', '-l'], 'in');
    await client.agentExecStatus('pve1', 101, 1);
    await client.taskStatus(task);
    await client.taskLog(task, { start: 0, limit: 50 });
    const ticket = createProxmoxClient({
      url: server.url,
      auth: { kind: 'ticket', username: 'a@pam', password: 'p' },
    });
    await ticket.version();
    ticket.close();
  });
  after(async () => {
    client.close();
    await server.close();
  });

  for (const version of ['9.1', '8.4'] as const) {
    it(`sends only what PVE ${version} accepts`, () => {
      const endpoints = loadEndpoints(version);
      expect(server.requests.length).to.equal(31);
      const problems = server.requests.flatMap((r) => check(endpoints, r));
      expect(problems).to.deep.equal([]);
    });
  }

  it('the node budget counts exactly the calls PVE runs in pvedaemon (`protected`)', () => {
    // pve-manager PVE/HTTPServer.pm rest_handler: a `protected` call is proxied to the node's pvedaemon.
    const endpoints = loadEndpoints('9.1');
    const wrong = server.requests.flatMap((r) => {
      const ep = endpoints.find((e) => e.method === r.method && e.re.test(r.path));
      if (!ep || r.path === '/access/ticket') return [];
      const counted = budgetOf(r.method, r.path) !== undefined;
      return counted === ep.protected
        ? []
        : [`${r.method} ${ep.path}: protected ${ep.protected}, counted ${counted}`];
    });
    expect(wrong).to.deep.equal([]);
    expect(budgetOf('GET', '/nodes/pve1/qemu/101/agent/exec-status')).to.deep.equal({
      node: 'pve1',
      agent: true,
    });
    expect(budgetOf('GET', '/cluster/status')).to.deep.equal({ node: LOCAL_NODE, agent: false });
  });

  it('the checker catches a parameter PVE would refuse', () => {
    const endpoints = loadEndpoints('9.1');
    const bad: Recorded = {
      ...server.requests[0]!,
      method: 'POST',
      path: '/nodes/pve1/qemu/1/clone',
      body: 'newid=1&full=true&bogus=1',
      query: '',
    };
    expect(check(endpoints, bad)).to.deep.equal([
      "full: boolean 'true'",
      "POST /nodes/{node}/qemu/{vmid}/clone: parameter 'bogus' is not in the schema",
    ]);
  });
});
