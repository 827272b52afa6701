/**
 * Server-side plan (`POST /v1/plan`, `workerctl plan --controller URL`): the posted manifests are
 * loaded as if they were the controller's manifest directory, merged into a copy of its store, and
 * planned by a reconcile core of their own over a fresh observation through a client that refuses
 * every change, exactly as `workerctl plan` does with a state directory. The running controller's
 * store, queue and Proxmox see reads only. One preview at a time.
 */
import { join, relative, sep } from 'node:path';
import type { PlanPreviewRequest, PlanPreviewResponse } from '../api/plan-request.js';
import type { Clock } from '../clock.js';
import { isoNow } from '../clock.js';
import type { Logger } from '../log.js';
import { loadManifestBytes } from '../manifest/posted.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import { readOnlyClient } from '../proxmox/read-only-client.js';
import { Mutex } from '../queue/mutex.js';
import type { ControllerSettings } from '../reconcile/contracts.js';
import { createReconcileCore } from '../reconcile/core.js';
import { MANIFESTS_META, MASS_DELETE_META, type ManifestsMeta } from '../reconcile/intake.js';
import { MemoryStore } from '../store/memory-store.js';
import { STORE_SCHEMA_VERSION, type Store, type StoreData } from '../store/store.js';
import type { Diagnostic, SourceRef } from '../types.js';

export interface PreviewDeps {
  client: ProxmoxClient;
  store: Store;
  settings: ControllerSettings;
  logger: Logger;
  clock: Clock;
  /** The directory the controller reads its manifests from: posted paths are placed under it. */
  manifestRoot: string;
}

/** The controller's data as a store file would hold it (the preview's starting point). */
export function storeSnapshot(store: Store): StoreData {
  const workers: StoreData['workers'] = {};
  for (const w of store.listWorkers()) {
    const s = store.getSections(w.name);
    if (s) workers[w.name] = structuredClone(s);
  }
  const sessions: StoreData['sessions'] = {};
  for (const s of store.listSessions()) sessions[s.id] = structuredClone(s);
  const meta: StoreData['meta'] = {};
  const blocked = store.getMeta(MASS_DELETE_META);
  if (blocked !== undefined) meta[MASS_DELETE_META] = structuredClone(blocked);
  return { schemaVersion: STORE_SCHEMA_VERSION, workers, sessions, meta };
}

/** The preview function the API serves POST /v1/plan with. */
export function planPreview(deps: PreviewDeps): (req: PlanPreviewRequest) => Promise<PlanPreviewResponse> {
  const one = new Mutex();
  const root = deps.manifestRoot;
  // How the loader shows the root in messages: absolute, or relative to the working directory.
  const shown = relative(process.cwd(), root);
  const prefixes = [root + sep, ...(shown && !shown.startsWith('..') ? [shown + sep] : [])];
  const posted = (file: string): string => {
    const rel = relative(root, file);
    return rel.startsWith('..') ? file : rel.split(sep).join('/');
  };
  return (req) =>
    one.run(async () => {
      const load = loadManifestBytes(
        req.files.map((f) => ({ ...f, file: join(root, ...f.path.split('/')) })),
      );
      if (req.revision) load.revision = req.revision.commit;
      const copy = new MemoryStore({ initial: storeSnapshot(deps.store), clock: deps.clock });
      await copy.open();
      try {
        // The settle window guards a directory caught mid-write; a posted set is whole, and the plan
        // shows what its merge leads to: an undeclared worker's removal, as `plan` does locally.
        const settings: ControllerSettings = {
          ...deps.settings,
          allowMassDelete: req.allowMassDelete,
          removalSettleMs: 0,
        };
        if (req.selector) settings.selector = req.selector;
        else delete settings.selector;
        const core = createReconcileCore({
          client: readOnlyClient(deps.client),
          store: copy,
          logger: deps.logger.child({ component: 'plan-preview' }),
          clock: deps.clock,
          settings,
        });
        await core.applyDesired(load);
        await core.observe();
        const observedAt = isoNow(deps.clock);
        const plan = await core.plan();
        const sources: Record<string, SourceRef> = {};
        for (const w of load.workers) sources[w.spec.name] = { ...w.source, file: posted(w.source.file) };
        // Messages across files name the other file ("also declared at ..."): as posted, too.
        const diagnostics: Diagnostic[] = load.diagnostics.map((d) => ({
          ...d,
          file: posted(d.file),
          message: prefixes.reduce((m, p) => m.split(p).join(''), d.message),
        }));
        const response: PlanPreviewResponse = { plan, diagnostics, sources, observedAt };
        const meta = deps.store.getMeta<ManifestsMeta>(MANIFESTS_META);
        if (meta?.revision) response.controllerRevision = meta.revision;
        return response;
      } finally {
        await copy.close();
      }
    });
}
