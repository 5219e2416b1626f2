/** The persisted state of one upload, and which of its stored parts count. */
import { MIN_PART_SIZE, type PartPlan } from './part-size.js';

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

export function partsBytes(parts: readonly Part[]): number {
  let total = 0;
  for (const p of parts) total += p.Size;
  return total;
}

export interface CountedParts {
  /** Parts 1..n without gaps: the upload's bytes from offset 0. */
  run: Part[];
  /**
   * Parts in S3 beyond the run (a request whose earlier part failed stored later ones). They
   * are not counted; a new part of the same number keeps the same size, so they hold the
   * right bytes once the parts before them exist again (see choosePartLength).
   */
  stored: Map<number, Part>;
}

/**
 * Which stored parts count: the leading run 1, 2, 3, ... where every part but the upload's
 * last holds at least the 5 MiB minimum and none reaches past the upload's length.
 */
export function countParts(parts: Iterable<Part>, size: number | undefined): CountedParts {
  const byNumber = new Map<number, Part>();
  for (const p of parts) byNumber.set(p.PartNumber, p);
  const run: Part[] = [];
  let end = 0;
  for (let n = 1; ; n++) {
    const part = byNumber.get(n);
    if (!part) break;
    const partEnd = end + part.Size;
    const last = size !== undefined && partEnd === size;
    if ((size !== undefined && partEnd > size) || (part.Size < MIN_PART_SIZE && !last)) break;
    run.push(part);
    byNumber.delete(n);
    end = partEnd;
    if (last) break;
  }
  // The part right after the run, if any, broke it: it is replaced freely. Parts below the
  // minimum can only be some upload's last part: nothing needs to line up behind them.
  const stored = new Map<number, Part>();
  for (const [n, p] of byNumber) if (n > run.length + 1 && p.Size >= MIN_PART_SIZE) stored.set(n, p);
  return { run, stored };
}
