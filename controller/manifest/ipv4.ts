/** Small IPv4 helpers for the semantic checks (inputs already passed the schema's patterns). */

/** Parses a dotted quad to an unsigned 32-bit number, or undefined. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

/** An address with its prefix, e.g. 10.0.20.15/24. */
export interface Cidr {
  ip: number;
  prefix: number;
}

/** Parses address/prefix, or undefined. */
export function parseCidr(text: string): Cidr | undefined {
  const [addr, len, extra] = text.split('/');
  if (addr === undefined || len === undefined || extra !== undefined || !/^\d{1,2}$/.test(len))
    return undefined;
  const ip = parseIpv4(addr);
  const prefix = Number(len);
  if (ip === undefined || prefix > 32) return undefined;
  return { ip, prefix };
}

/** The netmask of a prefix length as an unsigned number. */
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Network address of a CIDR. */
export function networkOf(c: Cidr): number {
  return (c.ip & maskOf(c.prefix)) >>> 0;
}

/** Broadcast address of a CIDR. */
export function broadcastOf(c: Cidr): number {
  return (networkOf(c) | ~maskOf(c.prefix)) >>> 0;
}

/** Whether ip lies in the subnet of c. */
export function inSubnet(c: Cidr, ip: number): boolean {
  return (ip & maskOf(c.prefix)) >>> 0 === networkOf(c);
}

/** Dotted quad of an unsigned number. */
export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Whether two subnets overlap. */
export function subnetsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.ip & maskOf(p)) >>> 0 === (b.ip & maskOf(p)) >>> 0;
}
