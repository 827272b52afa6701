/** UPIDs: UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>: (pve-common src/PVE/Tools.pm upid_decode). */
import type { TaskRef } from './types.js';

export interface ParsedUpid {
  node: string;
  pid: number;
  pstart: number;
  startTime: number;
  type: string;
  id: string;
  user: string;
}

const UPID_RE =
  /^UPID:([a-zA-Z0-9][a-zA-Z0-9.-]*):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$/;

/** Parses a UPID; undefined when it does not have the PVE shape. */
export function parseUpid(upid: string): ParsedUpid | undefined {
  const m = UPID_RE.exec(upid.trim());
  if (!m) return undefined;
  const [, node, pid, pstart, start, type, id, user] = m as unknown as string[];
  return {
    node: node!,
    pid: parseInt(pid!, 16),
    pstart: parseInt(pstart!, 16),
    startTime: parseInt(start!, 16),
    type: type!,
    id: id!,
    user: user!,
  };
}

/** A TaskRef for a UPID returned by a call on `fallbackNode` (the UPID's own node wins). */
export function taskRef(upid: string, fallbackNode: string): TaskRef {
  return { upid, node: parseUpid(upid)?.node ?? fallbackNode };
}
