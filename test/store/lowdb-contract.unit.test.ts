import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DB_FILE_NAME, LowdbStore } from '../../controller/store/lowdb-store.js';
import type { StoreData } from '../../controller/store/store.js';
import { FakeClock } from '../helpers/clock.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { COALESCE_MS, storeContract } from './contract.js';

storeContract('LowdbStore', () => {
  const clock = new FakeClock();
  const dir = makeTempDir('workerctl-store-');
  const stateDir = join(dir.path, 'state');
  const file = join(stateDir, DB_FILE_NAME);
  return {
    clock,
    create: (options = {}) => {
      if (options.initial !== undefined) {
        mkdirSync(stateDir, { recursive: true });
        writeFileSync(file, JSON.stringify(options.initial));
      }
      return new LowdbStore({ stateDir, clock, coalesceMs: COALESCE_MS, readOnly: options.readOnly });
    },
    persisted: () => {
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as StoreData;
      } catch {
        return undefined;
      }
    },
    cleanup: async () => dir.remove(),
  };
});
