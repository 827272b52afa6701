/** Locations of files that ship with workerctl, resolved from this module (works from dist/ and src). */
import { existsSync, readFileSync } from 'node:fs';
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
/** The version in package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The fleet page's static files (HTML, JS, CSS), served by the API at `/`. */
export const webDir = join(packageRoot, 'web');

/** The vendored Proxmox VE API schemas (third-party data, AGPL-3.0-or-later; see third_party/pve-api/README.md). */
export const pveApiDir = join(packageRoot, 'third_party', 'pve-api');

/** The environment variable that points the simulator at another copy of the PVE 9.1 schema. */
export const PVE_SCHEMA_ENV = 'WORKERCTL_PVE_SCHEMA';

/**
 * Where the Proxmox VE API schema is: `$WORKERCTL_PVE_SCHEMA` when set (9.1 only), else the copy in
 * third_party/pve-api/. The 8.4 schema is in the repository for tests and not in the npm package.
 */
export function pveSchemaPath(version: '9.1' | '8.4' = '9.1'): string {
  const override = process.env[PVE_SCHEMA_ENV];
  const path =
    override && version === '9.1' ? resolve(override) : join(pveApiDir, `pve-api-schema-${version}.json`);
  if (existsSync(path)) return path;
  throw new Error(
    override && version === '9.1'
      ? `proxmox api schema not found at ${path} (from ${PVE_SCHEMA_ENV}); unset ${PVE_SCHEMA_ENV} to use the copy shipped with workerctl`
      : `proxmox api schema ${version} not found at ${path}; reinstall workerctl, or set ${PVE_SCHEMA_ENV} to a copy of pve-api-schema.json`,
  );
}
