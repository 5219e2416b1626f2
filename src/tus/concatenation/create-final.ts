/**
 * The POST of a final upload (`Upload-Concat: final;<url> <url> ...`, which @tus/server
 * refuses): checked here, with what every other upload gets from @tus/server (the pre-create
 * hook, an id); then assembled at once if every partial is finished (assemble-at-creation.ts),
 * or recorded as waiting for them, concatenation-unfinished (record-waiting.ts).
 */
import type { Server } from '@tus/server';
import { type DataStore, type Locker, Metadata, Uid, type Upload } from '@tus/utils';
import { OWNER_KEY } from '../../auth/ownership.js';
import type { Concatenator } from '../../stores/capabilities.js';
import type { Answer } from '../answer.js';
import { refuse } from '../refusals.js';
import { assembleAtCreation } from './assemble-at-creation.js';
import { type ConcatLimits, listings, overuse } from './claims.js';
import type { ConcatHeader } from './header.js';
import { CONCAT_KEY, clientMetadata } from './marks.js';
import { isFinished, readPartials, totalSize } from './partials.js';
import { recordWaiting } from './record-waiting.js';

type ClientMetadata = Record<string, string | null> | undefined;

export interface FinalRequest {
  /** The POST, for the upload events. */
  request: Request;
  header: ConcatHeader & { kind: 'final' };
  metadataHeader: string | undefined;
  lengthHeader: string | undefined;
  /** Mount path of this location, without trailing slash. */
  path: string;
  maxSize: number;
  limits: ConcatLimits;
  store: DataStore & Concatenator;
  /** A read that changes nothing (without the lock). */
  read(id: string): Promise<Upload>;
  locker: Locker;
  /** The location's @tus/server, whose listeners get the upload events. */
  engine: Server;
  /** Absolute URL of a new upload id. */
  urlOf(id: string): string;
  /** Owner recorded on the final upload (the authenticated subject). */
  owner?: string | undefined;
  /** The authenticated subject, for the location's key template. */
  subject?: string | undefined;
  /** Prefix of the final upload's id (a token's `prefix` claim). */
  idPrefix?: string | undefined;
  /** A token's own size limit: partials of unknown length could grow past it, so they are refused. */
  tokenMaxSize?: number | undefined;
  /** The pre-finish hook once the final upload is assembled: what it adds to the answer; it throws @tus/server's error shape when it fails (answered with the upload's Location). */
  preFinish?: (upload: Upload) => Promise<{ status_code?: number; headers?: Record<string, string>; body?: string }>;
  /** The pre-create hook: an answer refuses the upload; otherwise the id and metadata it chose, if any. */
  preCreate?: (upload: {
    size: number | undefined;
    metadata: ClientMetadata;
    partialIds: readonly string[];
  }) => Promise<Answer | { id?: string; metadata?: Record<string, string> }>;
}

/** A final upload about to be written: what the checks and the pre-create hook settled. */
export interface NewFinal {
  r: FinalRequest;
  id: string;
  /** Its absolute URL (Location). */
  url: string;
  /** The client's (or the hook's) metadata, with the mark and the owner. */
  metadata: Record<string, string | null>;
  /** The listed partials, in order, as read without their locks. */
  partials: Upload[];
  /** The sum of the partials' known lengths. */
  total: number;
  /** How many times each partial is listed. */
  counts: Map<string, number>;
  /** The pre-create hook chose the id: created only if no upload has it. */
  exclusive: boolean;
  /** Location and Upload-Concat of the 201. */
  headers: Record<string, string>;
}

/**
 * Create the final upload of `Upload-Concat: final;<url> <url> ...`. With every partial
 * finished it is assembled at once; otherwise (concatenation-unfinished) it is recorded as
 * waiting, each unfinished partial names it, and the last partial to finish assembles it.
 */
export async function createFinal(r: FinalRequest): Promise<Answer> {
  const final = await settleFinal(r);
  if ('status' in final) return final;
  return final.partials.every(isFinished) ? assembleAtCreation(final) : recordWaiting(final);
}

/** Check the POST and its partials, and let the pre-create hook refuse it or choose its id and metadata. */
async function settleFinal(r: FinalRequest): Promise<NewFinal | Answer> {
  const requested = requestedMetadata(r);
  if ('status' in requested) return requested;
  const partials = await usablePartials(r);
  if ('status' in partials) return partials;
  const { urls, ids } = r.header;
  const total = totalSize(partials);
  // A pre-create hook (src/hooks/mount.ts) may refuse the upload, or choose its id and metadata.
  const known = partials.every((p) => p.size !== undefined);
  const changes = r.preCreate ? await r.preCreate({ size: known ? total : undefined, metadata: requested.metadata, partialIds: ids }) : {};
  if ('status' in changes) return changes;
  const id = `${r.idPrefix ?? ''}${changes.id ?? Uid.rand()}`;
  // HEAD repeats the partials' URLs as the client sent them (absolute or relative).
  const mark = `final;${urls.join(' ')}`;
  const owner: Record<string, string> = r.owner !== undefined ? { [OWNER_KEY]: r.owner } : {};
  const metadata = { ...(changes.metadata ?? requested.metadata), [CONCAT_KEY]: mark, ...owner };
  const url = r.urlOf(id);
  const headers = { Location: url, 'Upload-Concat': mark };
  return { r, id, url, metadata, partials, total, counts: listings(ids), exclusive: changes.id !== undefined, headers };
}

/** The listed partials, read and checked against the limits, or why the POST is refused. */
async function usablePartials(r: FinalRequest): Promise<Upload[] | Answer> {
  const { ids } = r.header;
  const { maxParts, maxUses } = r.limits;
  if (maxParts > 0 && ids.length > maxParts) return refuse('tooManyPartials', ids.length, maxParts);
  // The partials are read without their locks: taking a lock asks its holder to stop, and
  // partials still receiving must not be cut off by a final upload that waits for them.
  const partials = await readPartials(r.header, r.read);
  if ('status' in partials) return partials;
  const refusedUse = overuse(partials, r.header, maxUses);
  if (refusedUse) return refuse('partialOverused', refusedUse);
  if (r.tokenMaxSize !== undefined && partials.some((p) => p.size === undefined)) {
    return refuse('tokenNeedsPartialLengths', r.tokenMaxSize);
  }
  const total = totalSize(partials);
  if (r.maxSize > 0 && total > r.maxSize) return refuse('concatTooLarge', total, r.maxSize);
  return partials;
}

/** The client's metadata of a final upload (without reserved keys), or why the POST is refused. */
function requestedMetadata(r: FinalRequest): { metadata: ClientMetadata } | Answer {
  if (r.lengthHeader !== undefined) return refuse('finalWithLength');
  if (!r.metadataHeader) return { metadata: undefined };
  try {
    return { metadata: clientMetadata(Metadata.parse(r.metadataHeader) as Record<string, string | null>) };
  } catch {
    return refuse('finalBadMetadata');
  }
}
