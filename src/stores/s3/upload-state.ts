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

/** Where an upload's state lives. */
export const StateHome = {
  /** `.info`: the usual place (also of a new upload about to write it). */
  Info: 'info',
  /**
   * The final object's user metadata: the upload arrived whole with its creation, in one
   * PutObject (see object-state.ts); there is no `.info`.
   */
  FinalObject: 'final-object',
  /**
   * Nowhere yet: a creation that carries the whole upload as its body. Its state goes into
   * the final object's metadata with the one PutObject, or, if anything else is to be stored
   * first (a tail, a part, an object too large for one PutObject), into `.info` before it
   * (`saveUnsavedState`).
   */
  Unsaved: 'unsaved',
} as const;
export type StateHome = (typeof StateHome)[keyof typeof StateHome];

export interface Part {
  PartNumber: number;
  ETag: string;
  Size: number;
}

/**
 * The number of the Part `S3Upload.sendWhole` returns: the whole upload went as the final
 * object in one PutObject, and no multipart upload holds it (S3 part numbers start at 1).
 */
export const WHOLE_OBJECT = 0;

/** The whole upload in one PutObject, not a part of a multipart upload. */
export const isWholeObject = (part: Part): boolean => part.PartNumber === WHOLE_OBJECT;

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
