/** Files that ship with workerctl: the vendored PVE API schema, found without anything beside the checkout. */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PVE_SCHEMA_ENV, packageRoot, pveApiDir, pveSchemaPath } from '../controller/paths.js';

function withEnv<T>(value: string | undefined, fn: () => T): T {
  const saved = process.env[PVE_SCHEMA_ENV];
  if (value === undefined) delete process.env[PVE_SCHEMA_ENV];
  else process.env[PVE_SCHEMA_ENV] = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env[PVE_SCHEMA_ENV];
    else process.env[PVE_SCHEMA_ENV] = saved;
  }
}

describe('paths: the vendored Proxmox VE API schema', () => {
  it('is found in third_party/pve-api inside the package, for 9.1 and 8.4', () => {
    withEnv(undefined, () => {
      expect(pveSchemaPath()).to.equal(join(pveApiDir, 'pve-api-schema-9.1.json'));
      expect(pveSchemaPath('8.4')).to.equal(join(pveApiDir, 'pve-api-schema-8.4.json'));
      expect(pveApiDir.startsWith(packageRoot)).to.equal(true);
    });
  });

  it(`${PVE_SCHEMA_ENV} overrides the 9.1 location; a missing file is an error naming the variable`, () => {
    const copy = join(pveApiDir, 'pve-api-schema-9.1.json');
    expect(withEnv(copy, () => pveSchemaPath())).to.equal(copy);
    const missing = '/nonexistent/pve-api-schema.json';
    expect(() => withEnv(missing, () => pveSchemaPath())).to.throw(
      new RegExp(`${missing}.*${PVE_SCHEMA_ENV}`),
    );
  });

  it('`workerctl simulator` with a wrong override fails at start with that error (exit 1)', () => {
    const res = spawnSync(
      process.execPath,
      [join(packageRoot, 'dist', 'controller', 'main.js'), 'simulator', '--port', '0'],
      {
        encoding: 'utf8',
        env: { ...process.env, [PVE_SCHEMA_ENV]: '/nonexistent/schema.json' },
        timeout: 20_000,
      },
    );
    expect(res.status, res.stderr).to.equal(1);
    expect(res.stderr).to.contain(PVE_SCHEMA_ENV).and.contain('/nonexistent/schema.json');
  });
});
