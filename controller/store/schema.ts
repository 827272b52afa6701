/**
 * The database file's shape across versions: the migration table that brings an older file up to
 * STORE_SCHEMA_VERSION, and a structural check of the result. A file from a newer workerctl is refused,
 * never rewritten, so a downgrade cannot lose data the newer version wrote.
 */
import { StoreCorruptError } from '../errors.js';
import type { WorkerRecord } from '../types.js';
import { storeShapeProblems, type ShapeProblem } from './file-schema.js';
import { splitRecord } from './sections.js';
import { STORE_SCHEMA_VERSION } from './store.js';
import type { StoreData } from './store.js';

type Json = Record<string, unknown>;

/** One step of the migration table: turns a file of version `from` into version `from + 1`. */
export interface Migration {
  from: number;
  /** One line for the log and the README. */
  description: string;
  up(data: Json): Json;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Turns a list of records into a map keyed by one of their fields (v0 kept lists). */
function listToMap(list: unknown, keyField: string, where: string): Json {
  if (list === undefined || list === null) return {};
  if (isObject(list)) return list;
  if (!Array.isArray(list)) throw new Error(`${where} is neither a list nor a map`);
  const out: Json = {};
  list.forEach((item, i) => {
    const key = isObject(item) ? item[keyField] : undefined;
    if (typeof key !== 'string' || key === '') throw new Error(`${where}/${i} has no ${keyField}`);
    out[key] = item;
  });
  return out;
}

/** The migration table, in order. Add a step here (and bump STORE_SCHEMA_VERSION) to change the format. */
export const MIGRATIONS: readonly Migration[] = [
  {
    from: 0,
    description:
      'v0 (no schemaVersion; workers and sessions as lists) to v1 (maps keyed by name and id; meta)',
    up(data) {
      const workers = listToMap(data.workers, 'name', '/workers');
      for (const rec of Object.values(workers)) {
        // v0 records could lack a history; v1 always has one.
        if (isObject(rec) && isObject(rec.status) && !Array.isArray(rec.status.history)) {
          rec.status.history = [];
        }
        if (isObject(rec) && isObject(rec.status) && !Array.isArray(rec.status.sessions)) {
          rec.status.sessions = [];
        }
        if (isObject(rec) && typeof rec.generation !== 'number') rec.generation = 1;
      }
      return {
        schemaVersion: 1,
        workers,
        sessions: listToMap(data.sessions, 'id', '/sessions'),
        meta: isObject(data.meta) ? data.meta : {},
      };
    },
  },
  {
    from: 1,
    description:
      'v1 (one flat record per worker) to v2 (a section per writer: desired, inventory, lifecycle, status, history)',
    up(data) {
      const workers: Json = {};
      for (const [name, rec] of Object.entries(isObject(data.workers) ? data.workers : {})) {
        // Checked like a v1 file first, so a damaged record is named rather than split wrongly.
        checkV1Record(rec, `/workers/${name}`, name);
        workers[name] = splitRecord(rec as unknown as WorkerRecord);
      }
      return { ...data, workers };
    },
  },
];

function checkV1Record(rec: unknown, at: string, name: string): void {
  if (!isObject(rec)) throw new Error(`${at} must be an object`);
  if (rec.name !== name) throw new Error(`${at}/name must equal the key ${JSON.stringify(name)}`);
  if (!isObject(rec.spec)) throw new Error(`${at}/spec must be an object`);
  if (!isObject(rec.status)) throw new Error(`${at}/status must be an object`);
  if (!Array.isArray(rec.status.history)) throw new Error(`${at}/status/history must be a list`);
  if (typeof rec.generation !== 'number') throw new Error(`${at}/generation must be a number`);
}

/** A fresh, empty database. */
export function emptyStoreData(): StoreData {
  return { schemaVersion: STORE_SCHEMA_VERSION, workers: {}, sessions: {}, meta: {} };
}

/** Result of bringing parsed file content up to the current version. */
export interface MigrationOutcome {
  data: StoreData;
  /** The version the file had (0 when it had no schemaVersion). */
  fromVersion: number;
  /** Descriptions of the steps applied, in order (empty when the file was current). */
  applied: string[];
}

/**
 * Checks and migrates parsed file content. Throws StoreCorruptError (naming `file` and the JSON
 * pointer of the problem) for content that is not a workerctl database or is from a newer version.
 */
export function migrateStoreData(
  raw: unknown,
  file: string,
  migrations: readonly Migration[] = MIGRATIONS,
  target = STORE_SCHEMA_VERSION,
): MigrationOutcome {
  if (!isObject(raw)) {
    const what = raw === null ? 'null' : Array.isArray(raw) ? 'a list' : typeof raw;
    throw new StoreCorruptError(
      `${file}: not a workerctl database (the top level is ${what}, not an object); it was left untouched. ` +
        '`workerctl state restore` puts the last good copy (.bak) back',
    );
  }
  const version = raw.schemaVersion === undefined ? 0 : raw.schemaVersion;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 0) {
    throw new StoreCorruptError(
      `${file}: /schemaVersion must be a non-negative integer, got ${JSON.stringify(version)}`,
    );
  }
  if (version > target) {
    throw new StoreCorruptError(
      `${file}: written by a newer workerctl (schemaVersion ${version}, this one understands up to ${target}); ` +
        'the file was left untouched: run the newer workerctl, or restore an older backup',
    );
  }
  let data: Json = structuredClone(raw);
  const applied: string[] = [];
  for (let v = version; v < target; v++) {
    const step = migrations.find((m) => m.from === v);
    if (!step) throw new StoreCorruptError(`${file}: no migration from schemaVersion ${v}`);
    try {
      data = step.up(data);
    } catch (err) {
      throw new StoreCorruptError(
        `${file}: cannot migrate from schemaVersion ${v}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    data.schemaVersion = v + 1;
    applied.push(step.description);
  }
  checkStoreShape(data, file);
  return { data: data as unknown as StoreData, fromVersion: version, applied };
}

/** Structural check of a current-version database; throws StoreCorruptError naming the place. */
export function checkStoreShape(data: Json, file: string): void {
  const problems = storeShapeProblems(data);
  for (const [name, rec] of Object.entries(isObject(data.workers) ? data.workers : {})) {
    if (isObject(rec) && typeof rec.name === 'string' && rec.name !== name)
      problems.push({
        pointer: `/workers/${name}/name`,
        message: `must equal the key ${JSON.stringify(name)}`,
      });
  }
  for (const [id, s] of Object.entries(isObject(data.sessions) ? data.sessions : {})) {
    if (isObject(s) && typeof s.id === 'string' && s.id !== id)
      problems.push({ pointer: `/sessions/${id}/id`, message: `must equal the key ${JSON.stringify(id)}` });
  }
  if (problems.length === 0) return;
  problems.sort((a, b) => a.pointer.localeCompare(b.pointer));
  const shown = problems.slice(0, 5).map((p) => `${p.pointer} ${p.message}`);
  if (problems.length > 5) shown.push(`and ${problems.length - 5} more`);
  throw new StoreShapeError(
    `${file}: the database is damaged: ${shown.join('; ')}. It was left untouched and not opened; ` +
      '`workerctl state check` shows every problem, `workerctl state restore` puts the last good copy (.bak) back',
    problems,
  );
}

/** A database whose content does not have the current shape, with every problem found. */
export class StoreShapeError extends StoreCorruptError {
  constructor(
    message: string,
    readonly problems: readonly ShapeProblem[],
  ) {
    super(message);
  }
}
