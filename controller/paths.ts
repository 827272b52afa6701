/** Locations of files that ship with workerctl, resolved from this module (works from dist/ and src). */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'schemas'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('workerctl package root not found');
    dir = up;
  }
}

export const packageRoot = findPackageRoot();
export const schemasDir = join(packageRoot, 'schemas');
export const examplesDir = join(packageRoot, 'examples');

/**
 * The real Proxmox VE API schema (data, AGPL): WORKERCTL_PVE_SCHEMA, else ../shared/proxmox beside the
 * checkout, else a copy that `make build` may place in dist/pve/.
 */
export function pveSchemaPath(version: '9.1' | '8.4' = '9.1'): string {
  const file = version === '9.1' ? 'pve-api-schema.json' : 'pve-api-schema-pve8.4.json';
  const candidates = [
    process.env.WORKERCTL_PVE_SCHEMA && version === '9.1' ? process.env.WORKERCTL_PVE_SCHEMA : undefined,
    resolve(packageRoot, '..', 'shared', 'proxmox', file),
    join(packageRoot, 'dist', 'pve', file),
  ].filter((p): p is string => Boolean(p));
  for (const p of candidates) if (existsSync(p)) return p;
  throw new Error(`proxmox api schema not found; looked in: ${candidates.join(', ')}`);
}
