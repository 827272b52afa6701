/**
 * A worker's labels as Proxmox tags, so the Proxmox UI shows them beside the ownership tag. A tag
 * must match pve-common's `pve-tag` format (src/PVE/JSONSchema.pm `$PVE_TAG_RE`:
 * `[a-z0-9_][a-z0-9_\-\+\.]*`, case-insensitive); PVE stores a VM's tags de-duplicated, sorted and,
 * unless the datacenter's `tag-style` says case-sensitive, lower-cased (pve-guest-common
 * src/PVE/GuestHelpers.pm `get_unique_tags`, called by qemu-server's config update). So a label
 * `site: dc1` becomes the tag `site-dc1`: lower-case, every other character replaced by `_`; a label
 * with an empty value is its key alone. The ownership tag is always added (invariant 3).
 */

/** Characters a PVE tag may hold after its first one (pve-common `$PVE_TAG_RE`). */
const NOT_TAG_CHAR = /[^a-z0-9_\-+.]/g;

/** One label as a tag (it always starts with the key's first character: a letter or digit). */
export function labelTag(key: string, value: string): string {
  const text = value === '' ? key : `${key}-${value}`;
  return text.toLowerCase().replace(NOT_TAG_CHAR, '_');
}

/** The tags a worker's VM carries: the owner tag and one per label, in PVE's stored form. */
export function workerTags(ownerTag: string, labels: Readonly<Record<string, string>> = {}): string {
  const tags = new Set([ownerTag.toLowerCase()]);
  for (const [k, v] of Object.entries(labels)) tags.add(labelTag(k, v));
  return [...tags].sort().join(';');
}
