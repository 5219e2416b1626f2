import type { Readable } from 'node:stream';

/** A store that can stream a byte range (inclusive) of a finished upload. */
export interface RangedReader {
  openRange(id: string, start: number, end: number): Promise<Readable>;
}

export function isRangedReader(store: unknown): store is RangedReader {
  return typeof (store as Partial<RangedReader>).openRange === 'function';
}
