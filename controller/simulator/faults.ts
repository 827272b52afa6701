/**
 * Injected faults (world file or run time): per-endpoint errors, 596s, dropped connections, flock
 * timeouts, slow and failing tasks, a guest agent that never comes up, shutdowns that time out.
 * Draws use the seeded RNG, so a run repeats for a seed.
 */
import type { Rng } from './rng.js';
import type { FaultKind, FaultSpec } from './world/types.js';

/** Where a fault is being looked for. */
export interface FaultSite {
  method?: string;
  /** Path after /api2/json. */
  path?: string;
  vmid?: number;
  taskType?: string;
}

interface ActiveFault {
  spec: FaultSpec & { id: string };
  fired: number;
  re?: RegExp;
}

/** The fault table. */
export class Faults {
  private readonly faults: ActiveFault[] = [];
  private readonly rng: Rng;
  private seq = 0;

  constructor(rng: Rng, initial: FaultSpec[] = []) {
    this.rng = rng;
    for (const f of initial) this.add(f);
  }

  /** Adds a fault; returns its id. */
  add(spec: FaultSpec): string {
    const id = spec.id ?? `f${++this.seq}`;
    let re: RegExp | undefined;
    if (spec.path !== undefined) {
      try {
        re = new RegExp(spec.path);
      } catch (err) {
        throw new Error(`fault ${id}: invalid path regex: ${(err as Error).message}`);
      }
    }
    this.faults.push({ spec: { ...spec, id }, fired: 0, re });
    return id;
  }

  remove(id: string): boolean {
    const i = this.faults.findIndex((f) => f.spec.id === id);
    if (i < 0) return false;
    this.faults.splice(i, 1);
    return true;
  }

  clear(): void {
    this.faults.length = 0;
  }

  /** The active faults with how often each fired. */
  list(): Array<FaultSpec & { id: string; fired: number }> {
    return this.faults.map((f) => ({ ...f.spec, fired: f.fired }));
  }

  /** Finds a fault of one of `kinds` matching `site`, draws its rate and counts it; undefined when none fires. */
  take(kinds: FaultKind[], site: FaultSite): FaultSpec | undefined {
    for (const f of this.faults) {
      if (!kinds.includes(f.spec.kind)) continue;
      if (!this.matches(f, site)) continue;
      if (f.spec.count !== undefined && f.fired >= f.spec.count) continue;
      if (f.spec.rate !== undefined && f.spec.rate < 1 && !this.rng.chance(f.spec.rate)) continue;
      f.fired++;
      return f.spec;
    }
    return undefined;
  }

  /** Like take() but without counting or drawing (persistent conditions such as agentNever). */
  has(kind: FaultKind, site: FaultSite): boolean {
    return this.faults.some(
      (f) =>
        f.spec.kind === kind &&
        this.matches(f, site) &&
        (f.spec.count === undefined || f.fired < f.spec.count),
    );
  }

  private matches(f: ActiveFault, site: FaultSite): boolean {
    const s = f.spec;
    if (s.method !== undefined && s.method.toUpperCase() !== site.method) return false;
    if (f.re && (site.path === undefined || !f.re.test(site.path))) return false;
    if (s.vmid !== undefined && s.vmid !== site.vmid) return false;
    if (s.taskType !== undefined && s.taskType !== site.taskType) return false;
    return true;
  }
}
