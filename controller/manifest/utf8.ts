/** Strict UTF-8 decoding that reports where the first bad byte is. */

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Result of decoding: the text, or the 1-based line/col of the first byte that is not UTF-8. */
export type DecodeResult =
  { ok: true; text: string } | { ok: false; line: number; col: number; byte: number };

/** Decodes bytes as UTF-8 (a leading BOM is dropped); never replaces bad bytes. */
export function decodeUtf8(bytes: Uint8Array): DecodeResult {
  try {
    return { ok: true, text: decoder.decode(bytes) };
  } catch {
    const at = firstInvalidByte(bytes);
    // Line and column of the bad byte: count lines, then decode the (valid) start of its line.
    let lineStart = 0;
    let line = 1;
    for (let i = 0; i < at; i++) {
      if (bytes[i] === 0x0a) {
        line++;
        lineStart = i + 1;
      }
    }
    const col = new TextDecoder('utf-8').decode(bytes.subarray(lineStart, at)).length + 1;
    return { ok: false, line, col, byte: bytes[at] ?? 0 };
  }
}

/** Offset of the first byte that starts an invalid UTF-8 sequence (bytes.length when none). */
export function firstInvalidByte(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    let n: number;
    let min: number;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      min = 0x10000;
    } else return i;
    if (i + n >= b.length) return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const x = b[i + k];
      if (x === undefined || (x & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (x & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return b.length;
}
