/**
 * The address a worker test pings for a Proxmox node: an operator's override (`--host-address`)
 * first, else the node's cluster address from GET /cluster/status (pve-manager PVE/API2/Cluster.pm
 * get_status: one `node` entry per member with its corosync `ip`), else the node name for the
 * guest to resolve. The cluster's answer is kept for a while: node addresses rarely change.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { ProxmoxClient } from '../proxmox/client.js';

/** How long the cluster's node addresses are trusted. */
export const NODE_ADDRESS_TTL_MS = 10 * 60_000;

export class NodeAddresses {
  #known: { at: number; ips: Map<string, string> } | undefined;
  #pending: Promise<Map<string, string>> | undefined;

  constructor(
    private readonly client: Partial<Pick<ProxmoxClient, 'clusterNodes'>>,
    private readonly overrides: Readonly<Record<string, string>>,
    private readonly clock: Clock,
    private readonly logger?: Logger,
  ) {}

  /** The address to ping for `node`. */
  async of(node: string): Promise<string> {
    const given = this.overrides[node];
    if (given) return given;
    const ips = await this.#cluster();
    return ips.get(node) ?? node;
  }

  async #cluster(): Promise<Map<string, string>> {
    const known = this.#known;
    if (known && this.clock.now() - known.at < NODE_ADDRESS_TTL_MS) return known.ips;
    const read = this.client.clusterNodes;
    if (!read) return new Map();
    this.#pending ??= read
      .call(this.client)
      .then((nodes) => {
        const ips = new Map(nodes.flatMap((n) => (n.ip ? [[n.name, n.ip] as const] : [])));
        this.#known = { at: this.clock.now(), ips };
        return ips;
      })
      .catch((err: unknown) => {
        // The test then pings the node name; the next test asks again.
        this.logger?.warn('node addresses unknown (GET /cluster/status failed)', { err });
        return known?.ips ?? new Map<string, string>();
      })
      .finally(() => {
        this.#pending = undefined;
      });
    return this.#pending;
  }
}
