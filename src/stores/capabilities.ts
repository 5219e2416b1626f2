/**
 * What a store can do beyond @tus/utils' DataStore, each a separate interface with a guard,
 * so the HTTP and protocol layers ask a store for a capability instead of for its class.
 * Everything a store needs to know about a request comes in as arguments.
 */
import type { Readable } from 'node:stream';
import type { DataStore, Upload } from '@tus/utils';
import type { CreationIntent } from './creation-intent.js';

export interface BodyWriteOptions {
  /** Body bytes the request announces (Content-Length), if known. */
  expectedBytes?: number | undefined;
  /** Body bytes accepted at most (the rest of the upload, or of the largest upload allowed). */
  maxBytes: number;
  /**
   * Aborted when the request must stop reading and keep what it has: a newer request for the
   * same upload asked for the lock (a client resuming after its own request stalled).
   */
  stop?: AbortSignal | undefined;
  /** Called with the size of every piece of the body as it is read (post-receive hooks). */
  onProgress?: ((bytes: number) => void) | undefined;
  /**
   * The caller's hold on the upload's lock, when the lock can be lost while the request runs
   * (a lock kept in Redis): the store stops at once when it is lost, and asks it before each
   * write that commits bytes or state, so a writer that no longer holds the lock commits
   * nothing over the request that took the upload over. Absent: the lock cannot be lost.
   */
  hold?: LockHold | undefined;
}

/**
 * A lock that can be lost while its request runs (Redis restarted without it, a holder whose
 * renewals failed until it expired): what a store asks before each write that commits. Not a
 * fencing token: between a `verify` and the write it guards the lock can still be lost, so a
 * store keeps that window to the one request the check precedes (see docs/deployment.md, Scaling out).
 */
export interface LockHold {
  /** Aborted, its reason the error to answer (a tus error), once the lock is known lost. */
  readonly lost: AbortSignal;
  /** Resolves once the lock service confirms the lock is still held; rejects (and aborts `lost`) otherwise. */
  verify(): Promise<void>;
}

/** A store that reads a request body itself (the raw Node stream, no web-stream adapters). */
export interface BodyWriter {
  /**
   * Append `body` at `offset`; returns the new offset. The caller holds the upload's lock. A
   * body longer than `maxBytes` rejects with BodyTooLong once the bytes that fit are stored.
   */
  writeBody(id: string, offset: number, body: Readable, options: BodyWriteOptions): Promise<number>;
}

/**
 * A body that brought more than `maxBytes` (sent without Content-Length, so its length was
 * not known before it was read): the bytes that fit are stored, the upload is at `offset`, the
 * rest of the body is not read. Shaped as @tus/server's 413 for callers that do not look closer.
 */
export class BodyTooLong extends Error {
  readonly status_code = 413;
  readonly body: string;
  constructor(readonly offset: number) {
    super('the body is longer than the upload can take');
    this.body = `The body is longer than the upload can take: the bytes that fit were stored (the upload is at ${offset}), the rest refused\n`;
  }
}

/** A store that keeps upload state in memory and can be told to read it again. */
export interface StateCache {
  /** Forget the upload's cached state: the next locked read loads it from storage. */
  invalidate(id: string): void;
  /** The cached offset, if the state is cached. */
  cachedOffset(id: string): number | undefined;
  /** Forget every cached state (the shared versions may have been lost). */
  invalidateAll(): void;
}

/**
 * Versions of upload state shared by several instances (Redis): a cache entry is trusted only
 * at the version it was read at; every change bumps the version before it starts.
 */
export interface UploadVersions {
  /** The current version (undefined: unchanged since versions were kept). */
  current(id: string): Promise<string | undefined>;
  /** A new version, taken before a change. */
  bump(id: string): Promise<string>;
}

/** A read that never changes anything (no cache fill, no completion): for callers without the lock. */
export interface UploadReader {
  readUpload(id: string): Promise<Upload>;
}

/** A byte range (inclusive) of a finished upload, for GET. */
export interface RangedReader {
  openRange(id: string, start: number, end: number): Promise<Readable>;
}

/** Builds a final upload from finished partial uploads (tus concatenation). */
export interface Concatenator {
  /**
   * Create upload `id`, finished, holding the partials' bytes in order; returns its length. The
   * caller holds the locks. `intent` (creation-intent.ts): `exclusive`, a new upload whose id
   * was chosen elsewhere, created only if no upload has it (UploadIdTaken otherwise); `subject`
   * for the key template. A final upload that waited for its partials keeps the key it got
   * when it was created.
   */
  concatenate(
    id: string,
    partialIds: readonly string[],
    metadata: Record<string, string | null> | undefined,
    intent?: CreationIntent,
  ): Promise<number>;
  /** Replace an upload's metadata (a partial records the final uploads that claimed it). The caller holds the lock (see src/tus/concatenation/record-waiting.ts for where it cannot). */
  setMetadata(id: string, metadata: Record<string, string | null>): Promise<void>;
}

/** Readiness: resolves when the storage is reachable and writable, rejects with the reason. */
export interface Prober {
  probe(signal: AbortSignal): Promise<void>;
}

/** S3 part uploads in flight (metrics). */
export interface PartCounter {
  readonly partsInFlight: number;
}

/**
 * Small private records kept with the uploads under a reserved name (`<root>.tus-<kind>/` in
 * the bucket, `<root>/.tus-<kind>/` on disk), durable across restarts: the hook outbox. No
 * upload id can name them (ids have no dot), and neither listings nor expiry see them as uploads.
 */
export interface RecordKeeper {
  /** Write record `name` (letters, digits, `_`, `-`) of `kind`, replacing any; resolves once it is stored. */
  putRecord(kind: string, name: string, text: string): Promise<void>;
  /** The record, or undefined when there is none. */
  readRecord(kind: string, name: string): Promise<string | undefined>;
  /** Remove the record; one already gone is fine. */
  deleteRecord(kind: string, name: string): Promise<void>;
  listRecords(kind: string): Promise<string[]>;
}

/** Releases connections when the server closes. */
export interface Closable {
  close(): void;
}

const has = (store: unknown, name: string) => typeof (store as Record<string, unknown> | null)?.[name] === 'function';

export const isBodyWriter = (store: unknown): store is BodyWriter => has(store, 'writeBody');
export const isStateCache = (store: unknown): store is StateCache => has(store, 'invalidate') && has(store, 'cachedOffset');
export const isUploadReader = (store: unknown): store is UploadReader => has(store, 'readUpload');
export const isRangedReader = (store: unknown): store is RangedReader => has(store, 'openRange');
export const isConcatenator = (store: unknown): store is Concatenator => has(store, 'concatenate');
export const isProber = (store: unknown): store is Prober => has(store, 'probe');
export const isPartCounter = (store: unknown): store is PartCounter =>
  typeof (store as Partial<PartCounter> | null)?.partsInFlight === 'number';
export const isClosable = (store: unknown): store is Closable => has(store, 'close');
export const isRecordKeeper = (store: unknown): store is RecordKeeper => has(store, 'putRecord') && has(store, 'listRecords');

/** A read that changes nothing, for callers without the upload's lock. */
export function readWithoutLock(store: DataStore, id: string): Promise<Upload> {
  return isUploadReader(store) ? store.readUpload(id) : store.getUpload(id);
}
