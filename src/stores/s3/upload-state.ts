/** The state of one upload, as persisted in the bucket and cached in memory. */
import type { PartPlan } from './part-size.js';

/** Persisted as `<id>.info`. */
export interface UploadInfo {
  version: 1;
  id: string;
  size?: number;
  metadata?: Record<string, string | null>;
  creation_date: string;
  /** Key of the final object. */
  key: string;
  plan: PartPlan;
  /** The S3 multipart upload; created with the first part, absent for single-request uploads. */
  uploadId?: string;
}

export interface Part {
  PartNumber: number;
  ETag: string;
  Size: number;
}

export interface UploadState {
  info: UploadInfo;
  /** Parts 1..n without gaps; parts after a gap are ignored and will be overwritten. */
  parts: Part[];
  /** Bytes in `<id>.part`, which become the start of part parts.length + 1. */
  tail: number;
  /** The final object is complete. */
  finished: boolean;
}

export function partsBytes(parts: readonly Part[]): number {
  let total = 0;
  for (const p of parts) total += p.Size;
  return total;
}

export function offsetOf(state: UploadState): number {
  if (state.finished) return state.info.size ?? partsBytes(state.parts);
  return partsBytes(state.parts) + state.tail;
}

/** The leading run of parts numbered 1, 2, 3, ... */
export function contiguous(parts: readonly Part[]): Part[] {
  const sorted = [...parts].sort((a, b) => a.PartNumber - b.PartNumber);
  const run: Part[] = [];
  for (const p of sorted) {
    if (p.PartNumber !== run.length + 1) break;
    run.push(p);
  }
  return run;
}
