/**
 * Normalisers for PVE config values, applied to both sides before comparing: PVE
 * sorts and lower-cases tags, reads memory back as a property string, fills in a random MAC and
 * reorders net keys, trims descriptions and leaves defaults unset. Without these a plan never
 * reaches a fixed point.
 */

/** Values PVE assumes when a key is absent. */
export const PVE_DEFAULTS: Readonly<Record<string, string>> = Object.freeze({
  sockets: '1',
  cores: '1',
  memory: '512',
  onboot: '0',
  agent: 'enabled=0',
});

/** One `key=value` (or bare value) item of a PVE property string. */
export interface PropertyItem {
  key?: string;
  value: string;
}

/** Splits a PVE property string (`virtio=AA:BB,bridge=vmbr0,tag=10`) into its items. */
export function parsePropertyString(text: string): PropertyItem[] {
  const items: PropertyItem[] = [];
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) items.push({ value: part });
    else items.push({ key: part.slice(0, eq).trim(), value: part.slice(eq + 1).trim() });
  }
  return items;
}

/** `key=value` pairs sorted by key: a canonical property string. */
function canonical(map: Map<string, string>): string {
  return [...map.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

const NET_MODELS = new Set([
  'virtio',
  'e1000',
  'e1000e',
  'rtl8139',
  'vmxnet3',
  'i82551',
  'i82557b',
  'i82559er',
  'ne2k_isa',
  'ne2k_pci',
  'pcnet',
]);

/** A parsed netN value: model, MAC (if any) and the remaining options. */
export interface NetDevice {
  model: string;
  mac?: string;
  options: Map<string, string>;
}

/** Parses a netN value in any of PVE's accepted spellings. */
export function parseNet(text: string): NetDevice {
  const dev: NetDevice = { model: '', options: new Map() };
  for (const item of parsePropertyString(text)) {
    if (item.key === undefined) {
      if (!dev.model) dev.model = item.value.toLowerCase();
      continue;
    }
    const key = item.key.toLowerCase();
    if (key === 'model') dev.model = item.value.toLowerCase();
    else if (key === 'macaddr') dev.mac = item.value.toUpperCase();
    else if (NET_MODELS.has(key)) {
      dev.model = key;
      if (item.value) dev.mac = item.value.toUpperCase();
    } else dev.options.set(key, item.value);
  }
  return dev;
}

/** The net value without its MAC, model first: what a spec can say about a NIC. */
function normalizeNet(text: string): string {
  const dev = parseNet(text);
  const opts = canonical(dev.options);
  return opts ? `model=${dev.model},${opts}` : `model=${dev.model}`;
}

/** Writes a net value in PVE's canonical form, keeping `mac` so a rewrite does not change the MAC. */
export function formatNet(dev: NetDevice): string {
  const head = dev.mac ? `${dev.model}=${dev.mac}` : dev.model;
  const opts = canonical(dev.options);
  return opts ? `${head},${opts}` : head;
}

/** Tags as PVE stores them: lower-case, deduplicated, sorted, joined with ';'. */
export function normalizeTags(text: string): string {
  const tags = text
    .split(/[;,\s]+/)
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
  return [...new Set(tags)].sort().join(';');
}

/** Memory in MiB as a plain number string ('current=4096' and 4096 both give '4096'). */
function normalizeMemory(text: string): string {
  for (const item of parsePropertyString(text)) {
    if (item.key === undefined || item.key === 'current') return String(Number(item.value));
  }
  return text.trim();
}

/** agent: '1' and 'enabled=1' are the same; other options kept in key order. */
function normalizeAgent(text: string): string {
  const map = new Map<string, string>();
  for (const item of parsePropertyString(text)) {
    map.set(item.key === undefined ? 'enabled' : item.key, item.value);
  }
  if (!map.has('enabled')) map.set('enabled', '0');
  return canonical(map);
}

function normalizeBool(text: string): string {
  const t = text.trim().toLowerCase();
  return t === '1' || t === 'true' || t === 'yes' || t === 'on' ? '1' : '0';
}

function rank(order: string[], key: string): number {
  const i = order.indexOf(key);
  return i < 0 ? order.length : i;
}

/** Normalises one config value for comparison. Unknown keys are only trimmed. */
export function normalizeValue(key: string, value: string): string {
  if (key === 'tags') return normalizeTags(value);
  if (key === 'memory') return normalizeMemory(value);
  if (key === 'agent') return normalizeAgent(value);
  if (key === 'onboot' || key === 'protection' || key === 'template') return normalizeBool(value);
  if (key === 'description') return value.replace(/\r\n/g, '\n').trimEnd();
  if (key === 'nameserver' || key === 'searchdomain') return value.trim().split(/\s+/).join(' ');
  if (/^net\d+$/.test(key)) return normalizeNet(value);
  if (/^ipconfig\d+$/.test(key)) {
    // PVE's own key order (ip, gw, ip6, gw6), so plans read as the operator wrote them.
    const order = ['ip', 'gw', 'ip6', 'gw6'];
    return parsePropertyString(value)
      .filter((i): i is Required<PropertyItem> => i.key !== undefined)
      .sort((a, b) => rank(order, a.key) - rank(order, b.key) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((i) => `${i.key}=${i.value}`)
      .join(',');
  }
  if (key === 'cores' || key === 'sockets') return String(Number(value));
  return value.trim();
}

/** The normalised value of `key` in a config, with PVE's default when the key is absent. */
export function observedValue(config: Readonly<Record<string, string>>, key: string): string | undefined {
  const raw = config[key] ?? PVE_DEFAULTS[key];
  return raw === undefined ? undefined : normalizeValue(key, raw);
}

/** Size of a drive value ('local-lvm:vm-101-disk-0,size=32G') in GiB, or undefined without size=. */
export function diskSizeGiB(drive: string): number | undefined {
  const size = parsePropertyString(drive).find((i) => i.key === 'size')?.value;
  if (!size) return undefined;
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)$/i.exec(size);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2]!.toUpperCase();
  const factor: Record<string, number> = { '': 1 / 1024 ** 3, K: 1 / 1024 ** 2, M: 1 / 1024, G: 1, T: 1024 };
  return n * factor[unit]!;
}

/** The storage id of a drive value ('local-lvm:vm-101-disk-0,...' -> 'local-lvm'). */
export function diskStorage(drive: string): string | undefined {
  const first = parsePropertyString(drive)[0];
  if (!first) return undefined;
  const volume = first.key === 'file' ? first.value : first.key === undefined ? first.value : undefined;
  const colon = volume?.indexOf(':') ?? -1;
  return volume && colon > 0 ? volume.slice(0, colon) : undefined;
}

/** The key of the VM's main disk: the first of scsi0, virtio0, sata0, ide0 that is a disk (not a CD or cloud-init). */
export function primaryDiskKey(config: Readonly<Record<string, string>>): string | undefined {
  const keys = Object.keys(config)
    .filter((k) => /^(scsi|virtio|sata|ide)\d+$/.test(k))
    .sort((a, b) => diskOrder(a) - diskOrder(b));
  return keys.find((k) => {
    const v = config[k]!;
    return !/media=cdrom/.test(v) && !/cloudinit/.test(v) && v !== 'none';
  });
}

function diskOrder(key: string): number {
  const bus = ['scsi', 'virtio', 'sata', 'ide'].findIndex((b) => key.startsWith(b));
  return bus * 100 + Number(key.replace(/^\D+/, ''));
}
