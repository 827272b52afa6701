import { MemoryStore, MemoryVolume } from '../../controller/store/memory-store.js';
import { FakeClock } from '../helpers/clock.js';
import { COALESCE_MS, storeContract } from './contract.js';

storeContract('MemoryStore', () => {
  const clock = new FakeClock();
  const volume = new MemoryVolume();
  return {
    clock,
    create: (options = {}) =>
      new MemoryStore({
        clock,
        coalesceMs: COALESCE_MS,
        volume,
        readOnly: options.readOnly,
        initial: options.initial,
      }),
    persisted: () => volume.read(),
    cleanup: async () => {},
  };
});
