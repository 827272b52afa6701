/**
 * Parsing one file's bytes: strict UTF-8, then YAML documents, each checked (check.ts) into a
 * candidate worker or diagnostics at file:line:col. Two parsers: a fast one (js-yaml, fast-parse.ts)
 * that only ever accepts files that are entirely valid, and the full one (the `yaml` document model)
 * that locates every problem; any doubt sends a file to the full one.
 */
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { EMPTY_FILE_CODE, type Diagnostic, type LoadedWorker } from '../types.js';
import { checkDocument, staticAddresses, type StaticAddress } from './check.js';
import { fastParseDocuments } from './fast-parse.js';
import type { Finding } from './finding.js';
import { specHash } from './spec-hash.js';
import { decodeUtf8 } from './utf8.js';
import { spanOf, YamlLocator, type Span } from './yaml-locator.js';

export interface ParseOptions {
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

const DEFAULT_MAX_ALIAS_COUNT = 100;

/** Where a worker's password file is named. */
export const PASSWORD_FILE_POINTER = '/spec/updates/proxy/passwordFile';

/** A valid worker document, before the checks across files decide whether it is kept. */
export interface Candidate {
  worker: LoadedWorker;
  document: number;
  /** Spans of /metadata/name and the static addresses (only from the full parser). */
  spans?: Map<string, Span>;
  addresses: StaticAddress[];
}

/** The checks of one file on its own, before the checks across files (cached by cached-loader.ts). */
export interface FileResult {
  file: string;
  diagnostics: Diagnostic[];
  candidates: Candidate[];
  /** The text, kept when the fast path read it, to locate findings across files later. */
  text?: string;
}

/** Parses and checks one file's bytes (synchronous: the CPU part). */
export function parseFile(file: string, bytes: Uint8Array, opts: ParseOptions = {}): FileResult {
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
  if (decoded.text.trim() === '') {
    // Often a file caught between a truncate and its rewrite: not taken as "no workers wanted".
    return {
      file,
      candidates: [],
      diagnostics: [
        {
          file,
          line: 1,
          col: 1,
          pointer: '',
          severity: 'warning',
          code: EMPTY_FILE_CODE,
          message: 'the file is empty: the workers that came from it keep their last spec',
          hint: 'to remove them, delete the file (or leave a comment in it)',
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
    const { findings, spec } = checkDocument(data, file);
    if (findings.length > 0 || !spec) return undefined;
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
export function fullParse(file: string, text: string, opts: ParseOptions = {}): FileResult {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, {
    lineCounter: lc,
    prettyErrors: false,
    uniqueKeys: true,
    merge: true,
  });
  const result: FileResult = { file, diagnostics: [], candidates: [] };
  docs.forEach((doc, index) => parseDocument(result, text, lc, doc, index, opts));
  return result;
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

function parseDocument(
  out: FileResult,
  text: string,
  lc: LineCounter,
  doc: Document.Parsed,
  index: number,
  opts: ParseOptions,
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
  const { findings, spec } = checkDocument(data, file);
  findings.forEach(push);
  if (!spec) return;
  const start = loc.documentSpan();
  const spans = new Map<string, Span>([['/metadata/name', loc.locate('/metadata/name')]]);
  const addresses = staticAddresses(spec);
  for (const a of addresses) spans.set(a.pointer, loc.locate(a.pointer));
  // The load checks the password file on disk (secret-file.ts) and points here when it is refused.
  if (spec.updates.proxy?.passwordFile !== undefined)
    spans.set(PASSWORD_FILE_POINTER, loc.locate(PASSWORD_FILE_POINTER));
  out.candidates.push({
    worker: { spec, source: { file, line: start.line, col: start.col }, specHash: specHash(spec) },
    document: index,
    spans,
    addresses,
  });
}

export function toDiagnostic(file: string, document: number, f: Finding, span: Span): Diagnostic {
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
