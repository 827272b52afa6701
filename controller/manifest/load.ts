/**
 * Loads Worker manifests: files and directory trees -> YAML documents -> schema -> defaults ->
 * semantic checks -> LoadedWorker[], with every problem as a Diagnostic at file:line:col.
 *
 * Invariant 1: a file is all or nothing. A file with any error contributes no workers and is listed in
 * `invalidFiles`, so the controller keeps the last valid specs that came from it.
 */
import fs from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { Diagnostic, LoadResult, LoadedWorker, WorkerSpec } from '../types.js';
import { applyDefaults, type WorkerDocument } from './defaults.js';
import { fastParseDocuments } from './fast-parse.js';
import { collectManifestFiles, type PathProblem } from './walk.js';
import { describeType, displayPath, shownValue, type Finding } from './finding.js';
import { SUPPORTED_API_VERSIONS, SUPPORTED_KINDS, validateWorkerDocument } from './schema.js';
import { schemaFindings } from './schema-findings.js';
import { crossWorkerFindings, workerFindings, type WorkerIndexEntry } from './semantic.js';
import { specHash } from './spec-hash.js';
import { decodeUtf8 } from './utf8.js';
import { spanOf, YamlLocator, type Span } from './yaml-locator.js';

/** Options of loadManifests. */
export interface LoadOptions {
  /** Files larger than this are rejected (default 1 MiB). */
  maxFileBytes?: number;
  /** How many files are read at once (default 32). */
  concurrency?: number;
  /** How many alias expansions one document may do (default 100; bounds "billion laughs"). */
  maxAliasCount?: number;
  /**
   * Try the fast parser first (default true). Files it declines, and files with any problem, always
   * go through the full parser, which locates every problem. False forces the full parser.
   */
  fastPath?: boolean;
  /** Called each time a file's bytes are parsed and checked (tests count parses with it). */
  onParse?: (file: string) => void;
}

/** Default size limit of one manifest file. */
export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;
const DEFAULT_CONCURRENCY = 32;
const DEFAULT_MAX_ALIAS_COUNT = 100;

/** A valid worker document, before the checks across files decide whether it is kept. */
interface Candidate {
  worker: LoadedWorker;
  document: number;
  /** Spans of /metadata/name and the static addresses (only from the full parser). */
  spans?: Map<string, Span>;
  addresses: { ip: string; pointer: string }[];
}

/** The checks of one file on its own, before the checks across files (cached by manifest-loader.ts). */
export interface FileResult {
  file: string;
  diagnostics: Diagnostic[];
  candidates: Candidate[];
  /** The text, kept when the fast path read it, to locate findings across files later. */
  text?: string;
}

/**
 * Loads every manifest under `paths` (files, or directories walked recursively; see file-walk.ts).
 * Never throws for bad input: missing paths, unreadable files and invalid documents become
 * diagnostics. File paths in the result are absolute.
 */
export async function loadManifests(paths: string[], opts: LoadOptions = {}): Promise<LoadResult> {
  const { files, problems } = await collectManifestFiles(paths);
  const limit = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY);
  const results: FileResult[] = new Array<FileResult>(files.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      results[i] = await loadFile(files[i]!, opts);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, files.length) }, worker));
  return assembleLoad(results, pathDiagnostics(problems), files, opts);
}

/** Diagnostics for paths that could not be walked. */
export function pathDiagnostics(problems: PathProblem[]): Diagnostic[] {
  return problems.map((p) => ({
    file: p.path,
    line: 1,
    col: 1,
    pointer: '',
    severity: 'error',
    code: p.code,
    message: p.message,
    hint: p.code === 'path.missing' ? 'check the path; nothing under it was loaded' : undefined,
  }));
}

/**
 * Validates the content of one file as if it were the whole manifest set (no disk access): for
 * editors, tests and callers that already hold the bytes.
 */
export function loadManifestSource(
  file: string,
  content: string | Uint8Array,
  opts: LoadOptions = {},
): LoadResult {
  const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
  return assembleLoad([parseFile(file, bytes, opts)], [], [file], opts);
}

/**
 * Runs the checks across files over every file's own result and builds the LoadResult. Does not
 * change `fileResults` (a cache may hand the same ones in again), except to remember spans it had to
 * locate, which are the same every time.
 */
export function assembleLoad(
  fileResults: FileResult[],
  extra: Diagnostic[],
  files: string[],
  opts: LoadOptions,
): LoadResult {
  const results = fileResults.map((r) => ({ ...r, diagnostics: [...r.diagnostics] }));
  const candidates: { file: FileResult; index: number }[] = [];
  for (const r of results) r.candidates.forEach((_, index) => candidates.push({ file: r, index }));
  const candidateOf = (entry: number): Candidate => {
    const { file, index } = candidates[entry]!;
    return file.candidates[index]!;
  };
  // Spans of a candidate from the fast path: parse its file again with the full parser (rare: only
  // when a finding across files points at it).
  const spansOf = (entry: number): Map<string, Span> => {
    const c = candidateOf(entry);
    if (c.spans) return c.spans;
    const { file } = candidates[entry]!;
    const full = fullParse(file.file, file.text ?? '', opts);
    file.candidates.forEach((cand, i) => {
      const located = full.candidates[i];
      cand.spans = located && located.worker.spec.name === cand.worker.spec.name ? located.spans : new Map();
      if (located) cand.document = located.document;
    });
    return c.spans ?? new Map<string, Span>();
  };
  const entries: WorkerIndexEntry[] = candidates.map((_, i) => ({
    name: candidateOf(i).worker.spec.name,
    addresses: candidateOf(i).addresses,
  }));
  const where = (entry: number, pointer: string): string =>
    at(candidates[entry]!.file.file, spansOf(entry).get(pointer));
  for (const { entry, finding } of crossWorkerFindings(entries, where)) {
    const { file } = candidates[entry]!;
    const c = candidateOf(entry);
    const src = c.worker.source;
    const span = spansOf(entry).get(finding.pointer) ?? {
      line: src.line,
      col: src.col,
      endLine: src.line,
      endCol: src.col,
    };
    file.diagnostics.push(toDiagnostic(file.file, c.document, finding, span));
  }
  const diagnostics: Diagnostic[] = [...extra];
  const invalidFiles: string[] = extra.map((d) => d.file);
  const workers: LoadedWorker[] = [];
  for (const r of results) {
    r.diagnostics.sort((a, b) => a.line - b.line || a.col - b.col || a.code.localeCompare(b.code));
    diagnostics.push(...r.diagnostics);
    if (r.diagnostics.some((d) => d.severity === 'error')) invalidFiles.push(r.file);
    else for (const c of r.candidates) workers.push(c.worker);
  }
  return { workers, diagnostics, files, invalidFiles };
}

function at(file: string, span: Span | undefined): string {
  const shown = displayPath(file);
  return span ? `${shown}:${span.line}:${span.col}` : shown;
}

async function loadFile(file: string, opts: LoadOptions): Promise<FileResult> {
  const read = await readManifestFile(file, opts);
  return 'bytes' in read ? parseFile(file, read.bytes, opts) : read.problem;
}

/** What readManifestFile found: the bytes and the stat taken before reading them, or a problem. */
export type ReadOutcome = { bytes: Uint8Array; stat: fs.Stats } | { problem: FileResult };

/** Reads one manifest file within the size limit; a file that cannot be read becomes a problem. */
export async function readManifestFile(file: string, opts: LoadOptions): Promise<ReadOutcome> {
  const maxBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  try {
    const read = await readLimited(file, maxBytes);
    if (read === 'too-large') {
      return {
        problem: fileProblem(
          file,
          'file.too-large',
          `file is larger than the limit of ${maxBytes} bytes`,
          'split the manifests over several files',
        ),
      };
    }
    return read;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return {
      problem: fileProblem(
        file,
        code === 'ENOENT' ? 'path.missing' : 'file.unreadable',
        `cannot read file: ${code}`,
        'check that the file exists and is readable',
      ),
    };
  }
}

/**
 * Reads a whole file unless it is larger than maxBytes (checked before reading, and again on the
 * bytes read, for a file that grows meanwhile). Callback fs: far less overhead per small file than
 * fs/promises FileHandles.
 */
function readLimited(
  file: string,
  maxBytes: number,
): Promise<{ bytes: Uint8Array; stat: fs.Stats } | 'too-large'> {
  return new Promise((resolveRead, reject) => {
    fs.open(file, 'r', (err, fd) => {
      if (err) return reject(err);
      const done = (e: Error | null, result?: { bytes: Uint8Array; stat: fs.Stats } | 'too-large'): void => {
        fs.close(fd, () => (e ? reject(e) : resolveRead(result!)));
      };
      fs.fstat(fd, (e1, st) => {
        if (e1) return done(e1);
        if (st.size > maxBytes) return done(null, 'too-large');
        const chunks: Buffer[] = [];
        let total = 0;
        // The first read asks for one byte more than the size: a short read means end of file.
        const step = (size: number): void => {
          const buf = Buffer.allocUnsafe(size);
          fs.read(fd, buf, 0, size, null, (e2, n) => {
            if (e2) return done(e2);
            if (n > 0) chunks.push(buf.subarray(0, n));
            total += n;
            if (total > maxBytes) return done(null, 'too-large');
            if (n < size)
              return done(null, {
                bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
                stat: st,
              });
            step(64 * 1024); // the file grew since fstat
          });
        };
        step(st.size + 1);
      });
    });
  });
}

function fileProblem(file: string, code: string, message: string, hint: string): FileResult {
  return {
    file,
    candidates: [],
    diagnostics: [{ file, line: 1, col: 1, pointer: '', severity: 'error', code, message, hint }],
  };
}

/** Parses and checks one file's bytes (synchronous: the CPU part). */
export function parseFile(file: string, bytes: Uint8Array, opts: LoadOptions): FileResult {
  opts.onParse?.(file);
  const decoded = decodeUtf8(bytes);
  if (!decoded.ok) {
    return {
      file,
      candidates: [],
      diagnostics: [
        {
          file,
          line: decoded.line,
          col: decoded.col,
          pointer: '',
          severity: 'error',
          code: 'file.encoding',
          message: `file is not valid UTF-8: byte 0x${decoded.byte.toString(16).padStart(2, '0')}`,
          hint: 'save the file as UTF-8',
        },
      ],
    };
  }
  if (opts.fastPath !== false) {
    const fast = fastParse(file, decoded.text);
    if (fast) return fast;
  }
  return fullParse(file, decoded.text, opts);
}

/**
 * The fast path: plain values from js-yaml, checked by the same schema and semantic checks. Any
 * problem at all (or anything the fast parser declines) sends the file to the full parser.
 */
function fastParse(file: string, text: string): FileResult | undefined {
  const docs = fastParseDocuments(text);
  if (!docs) return undefined;
  const result: FileResult = { file, diagnostics: [], candidates: [], text };
  const lines = new LineIndex(text);
  for (let index = 0; index < docs.length; index++) {
    const data = docs[index]!.value;
    if (data === null || data === undefined) continue;
    if (headerFindings(data).length > 0 || validateWorkerDocument(data).length > 0) return undefined;
    const wdoc = data as WorkerDocument;
    const spec = resolvePaths(applyDefaults(wdoc), file);
    if (workerFindings(wdoc, spec).length > 0) return undefined;
    const { line, col } = lines.position(docs[index]!.start);
    result.candidates.push({
      worker: { spec, source: { file, line, col }, specHash: specHash(spec) },
      document: index,
      addresses: staticAddresses(spec),
    });
  }
  return result;
}

/** The full path: the `yaml` document model, which locates every problem at file:line:col. */
function fullParse(file: string, text: string, opts: LoadOptions): FileResult {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, {
    lineCounter: lc,
    prettyErrors: false,
    uniqueKeys: true,
    merge: true,
  });
  const result: FileResult = { file, diagnostics: [], candidates: [] };
  docs.forEach((doc, index) => checkDocument(result, text, lc, doc, index, opts));
  return result;
}

/**
 * A relative passwordFile is relative to the manifest's directory; the spec carries it resolved, so
 * whoever reads it later does not depend on the working directory.
 */
function resolvePaths(spec: WorkerSpec, file: string): WorkerSpec {
  const proxy = spec.updates.proxy;
  if (proxy?.passwordFile !== undefined && !isAbsolute(proxy.passwordFile)) {
    proxy.passwordFile = resolve(dirname(file), proxy.passwordFile);
  }
  return spec;
}

function staticAddresses(spec: WorkerSpec): Candidate['addresses'] {
  const out: Candidate['addresses'] = [];
  spec.networks.forEach((n, i) => {
    if (n.ipv4 !== 'dhcp')
      out.push({ ip: n.ipv4.address.split('/')[0]!, pointer: `/spec/networks/${i}/ipv4/address` });
  });
  return out;
}

/** 1-based line/col of offsets, for offsets asked in increasing order (documents of one file). */
class LineIndex {
  private offset = 0;
  private line = 1;
  private lineStart = 0;
  constructor(private readonly text: string) {}

  position(target: number): { line: number; col: number } {
    if (target < this.offset) {
      this.offset = 0;
      this.line = 1;
      this.lineStart = 0;
    }
    for (; this.offset < target; this.offset++) {
      if (this.text.charCodeAt(this.offset) === 10) {
        this.line++;
        this.lineStart = this.offset + 1;
      }
    }
    return { line: this.line, col: target - this.lineStart + 1 };
  }
}

function checkDocument(
  out: FileResult,
  text: string,
  lc: LineCounter,
  doc: Document.Parsed,
  index: number,
  opts: LoadOptions,
): void {
  const { file } = out;
  for (const w of doc.warnings) out.diagnostics.push(yamlDiagnostic(file, index, text, lc, w, 'warning'));
  if (doc.errors.length > 0) {
    // yaml often reports one mistake twice at the same place; keep the first.
    const seen = new Set<number>();
    for (const e of doc.errors) {
      if (seen.has(e.pos[0])) continue;
      seen.add(e.pos[0]);
      out.diagnostics.push(yamlDiagnostic(file, index, text, lc, e, 'error'));
    }
    return;
  }
  if (doc.contents === null) return; // an empty document: no worker, not an error
  const loc = new YamlLocator(doc, lc);
  const push = (f: Finding): void => {
    out.diagnostics.push(toDiagnostic(file, index, f, loc.locate(f.at ?? f.pointer, f.target)));
  };
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: opts.maxAliasCount ?? DEFAULT_MAX_ALIAS_COUNT });
  } catch (err) {
    const message = (err as Error).message;
    const bomb = /alias count/i.test(message);
    push({
      pointer: '',
      severity: 'error',
      code: bomb ? 'yaml.alias-limit' : 'yaml.invalid',
      message: bomb ? `document expands too many aliases: ${message}` : message,
      hint: bomb
        ? 'aliases (*name) are limited to bound memory; write the values out'
        : 'anchors (&name) are only visible inside their own document; merge keys (<<) need a mapping',
    });
    return;
  }
  const header = headerFindings(data);
  if (header.length > 0) {
    header.forEach(push);
    return;
  }
  const schemaErrors = validateWorkerDocument(data);
  if (schemaErrors.length > 0) {
    schemaFindings(schemaErrors).forEach(push);
    return;
  }
  const wdoc = data as WorkerDocument;
  const spec = resolvePaths(applyDefaults(wdoc), file);
  const semantic = workerFindings(wdoc, spec);
  semantic.forEach(push);
  if (semantic.some((f) => f.severity === 'error')) return;
  const start = loc.documentSpan();
  const spans = new Map<string, Span>([['/metadata/name', loc.locate('/metadata/name')]]);
  const addresses = staticAddresses(spec);
  for (const a of addresses) spans.set(a.pointer, loc.locate(a.pointer));
  out.candidates.push({
    worker: { spec, source: { file, line: start.line, col: start.col }, specHash: specHash(spec) },
    document: index,
    spans,
    addresses,
  });
}

/** apiVersion and kind first: a document of another kind gets one clear message, not a flood. */
function headerFindings(data: unknown): Finding[] {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return [
      {
        pointer: '',
        severity: 'error',
        code: 'manifest.not-a-mapping',
        message: `a manifest document must be a mapping (apiVersion, kind, metadata, spec), got ${Array.isArray(data) ? 'a list' : typeof data}`,
        hint: 'start the document with apiVersion: workerctl.dev/v1 and kind: Worker',
      },
    ];
  }
  const obj = data as Record<string, unknown>;
  const out: Finding[] = [];
  const check = (field: 'apiVersion' | 'kind', supported: readonly string[]): void => {
    const v = obj[field];
    if (typeof v === 'string' && supported.includes(v)) return;
    const list = supported.join(', ');
    out.push({
      pointer: v === undefined ? '' : `/${field}`,
      severity: 'error',
      code: field === 'apiVersion' ? 'manifest.api-version' : 'manifest.kind',
      message:
        v === undefined
          ? `missing ${field}; supported: ${list}`
          : `unsupported ${field} ${typeof v === 'string' ? `'${shownValue(`/${field}`, v) as string}'` : describeType(v)}; supported: ${list}`,
      value: shownValue(`/${field}`, v),
      hint: `set ${field}: ${supported[0]}`,
    });
  };
  check('apiVersion', SUPPORTED_API_VERSIONS);
  check('kind', SUPPORTED_KINDS);
  return out;
}

function toDiagnostic(file: string, document: number, f: Finding, span: Span): Diagnostic {
  const d: Diagnostic = {
    file,
    line: span.line,
    col: span.col,
    endLine: span.endLine,
    endCol: span.endCol,
    pointer: f.pointer,
    document,
    severity: f.severity,
    code: f.code,
    message: f.message,
  };
  if (f.value !== undefined) d.value = f.value;
  if (f.hint !== undefined) d.hint = f.hint;
  return d;
}

interface YamlProblem {
  code: string;
  message: string;
  pos: [number, number];
}

function yamlDiagnostic(
  file: string,
  document: number,
  text: string,
  lc: LineCounter,
  e: YamlProblem,
  severity: 'error' | 'warning',
): Diagnostic {
  const span = spanOf(lc, e.pos[0], e.pos[1]);
  const code = `yaml.${e.code.toLowerCase().replace(/_/g, '-')}`;
  let message = e.message;
  let hint = 'check the indentation against the lines above, the quoting, and the ": " after each key';
  if (e.code === 'DUPLICATE_KEY') {
    const m = /^("(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^:,\n{}[\]]+)/.exec(text.slice(e.pos[0], e.pos[0] + 300));
    const key = (m?.[1] ?? text.slice(e.pos[0], e.pos[1])).trim();
    message = `duplicate key '${key}'`;
    hint = 'each key may appear once in a mapping; remove or merge the repeated one';
  }
  return {
    file,
    line: span.line,
    col: span.col,
    endLine: span.endLine,
    endCol: span.endCol,
    pointer: '',
    document,
    severity,
    code,
    message,
    hint,
  };
}
