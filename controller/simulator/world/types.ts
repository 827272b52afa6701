/**
 * The simulated cluster as configured (YAML world file or object). Everything is optional except nodes;
 * see default-world.ts for the defaults and README section `simulator` for the file format.
 */

/** A cluster node. */
export interface NodeConfig {
  name: string;
  ip: string;
  cpus?: number;
  memoryGiB?: number;
  /** online (default) or offline. */
  status?: 'online' | 'offline';
}

/** A storage definition (storage.cfg entry). */
export interface StorageConfig {
  id: string;
  /** lvmthin, rbd, nfs, dir, zfspool, ... */
  type: string;
  /** Content types, e.g. [images, rootdir]. */
  content: string[];
  shared?: boolean;
  /** Total copy bandwidth of the storage in GiB/s, shared by parallel clones. */
  bandwidthGiBps?: number;
  totalGiB?: number;
  /** Nodes that have it (default: all). */
  nodes?: string[];
  enabled?: boolean;
}

/** Disk sizes of a VM's main disk. */
export interface DiskSpec {
  /** Provisioned size. */
  size: number;
  /** Used data (what a full clone copies). */
  used?: number;
}

/** A VM or template present when the simulator starts. */
export interface VmConfigSpec {
  vmid: number;
  node: string;
  name?: string;
  template?: boolean;
  running?: boolean;
  tags?: string;
  /** Storage for the main disk scsi0 (default local-lvm, or the first shared storage for templates). */
  storage?: string;
  disk?: DiskSpec;
  /** Extra config keys (PVE wire strings), e.g. {cores: '2', net0: 'virtio,bridge=vmbr0', ide2: 'local-lvm:cloudinit'}. */
  config?: Record<string, string | number>;
  /** Guest OS description for agent/get-osinfo. */
  os?: string;
  pool?: string;
  haManaged?: boolean;
}

/** Simulated-millisecond figures for one operation: a fixed value or a [min, max] range drawn with the seed. */
export type Duration = number | [number, number];

/** Per-operation durations in simulated ms (see latency.ts for the keys and defaults). */
export type LatencyOverrides = Partial<Record<string, Duration>>;

/** What a guest command returns. */
export interface GuestCommandResult {
  exitCode: number;
  stdout?: string;
  stderr?: string;
  /** Simulated run time (ms); a duration key of the latency profile also works via `durationKey`. */
  durationMs?: number;
  durationKey?: string;
}

/** A guest command table entry: a regex on the joined command line. */
export interface GuestCommandSpec extends GuestCommandResult {
  pattern: string;
}

/** Network facts the guests see. */
export interface NetworkConfig {
  /** The backup server (Veeam) address: reachable by ping. */
  backupServer?: string;
  /** Extra reachable hosts. */
  reachable?: string[];
  /** Hosts that never answer a ping (wins over reachable). */
  unreachable?: string[];
  /** DHCP subnets per bridge or bridge.vlan (e.g. {vmbr0: 10.0.0.0/24, 'vmbr0.20': 10.0.20.0/24}). */
  dhcp?: Record<string, string>;
}

/** Kinds of injected faults. */
export type FaultKind =
  | 'error' // answer with status (default 500) and message
  | 'status596' // 596 with an empty body (pveproxy gave up on pvedaemon)
  | 'drop' // destroy the socket without answering
  | 'lockTimeout' // "can't lock file ... got timeout" (sync 500, or the task fails with it)
  | 'slowTask' // multiply task durations by factor
  | 'failTask' // task ends with an error exit status
  | 'agentNever' // the guest agent never comes up
  | 'shutdownTimeout' // the guest ignores ACPI/agent shutdown
  | 'warnTask'; // the task succeeds with WARNINGS: 1 (message logged as a counted warning)

/** One injected fault; matching fields narrow where it applies, `rate` and `count` how often. */
export interface FaultSpec {
  id?: string;
  kind: FaultKind;
  /** HTTP method to match (API faults). */
  method?: string;
  /** Regex on the API path after /api2/json (API faults). */
  path?: string;
  /** VM the fault applies to. */
  vmid?: number;
  /** Task type (qmclone, qmstart, ...) for task faults. */
  taskType?: string;
  /** Probability per match (default 1), drawn with the seed. */
  rate?: number;
  /** Fire at most this many times (default unlimited). */
  count?: number;
  status?: number;
  message?: string;
  /** Slow-down factor for slowTask (default 10). */
  factor?: number;
}

/** The world file. */
export interface WorldConfig {
  clusterName?: string;
  nodes: NodeConfig[];
  storages?: StorageConfig[];
  pools?: string[];
  templates?: VmConfigSpec[];
  vms?: VmConfigSpec[];
  /** Generate this many extra stopped/running filler VMs (benchmarks). */
  generate?: { vms: number; startVmid?: number; runningShare?: number };
  network?: NetworkConfig;
  /** Overrides of the latency profile in simulated ms. */
  latencies?: LatencyOverrides;
  /** Guest agent boot time in simulated ms (overrides the profile's agentBoot). */
  agentBootMs?: Duration;
  guestCommands?: GuestCommandSpec[];
  faults?: FaultSpec[];
  /** pvedaemon per node: parallel workers for protected calls (default 3, as pve-manager PVE/Service/pvedaemon.pm; 0 = unlimited) and the pveproxy timeout (596) in PVE seconds (default 30). */
  daemon?: { workers?: number; proxyTimeoutSeconds?: number };
  /** /cluster/resources shows rrd-based fields as of the last pvestatd broadcast (default true). */
  resourcesLag?: boolean;
  /** Models labelled ASSUMPTION (no Proxmox source grounds them) on (default true); off for benchmarks that report both. */
  assumptions?: boolean;
  /** Capacity limits. */
  capacity?: { maxVms?: number };
  /** The MAC prefix for generated MACs (default BC:24:11). */
  macPrefix?: string;
}
