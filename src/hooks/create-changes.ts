/**
 * What a pre-create hook may change about a new upload (its ChangeFileInfo), checked before
 * anything is created: the id it chose must be a valid upload id (also after a token's
 * prefix), the metadata keys it set must be keys a client could send (reserved ones are
 * dropped), and the chosen id is claimed and must be free.
 */
import type { DataStore } from '@tus/utils';
import { readWithoutLock } from '../stores/capabilities.js';
import { clientMetadata } from '../tus/concatenation.js';
import { isUploadId } from '../tus/upload-id.js';
import { ID_IN_USE, type TusError } from './answers.js';
import type { HookContext } from './context.js';
import type { HookResponse } from './http-hook.js';
import type { IdClaims } from './id-claims.js';

/** What pre-create decided: the id (ChangeFileInfo.ID) and metadata (ChangeFileInfo.MetaData) to use, if it chose them. */
export interface CreateChanges {
  id?: string;
  metadata?: Record<string, string>;
}

/** `prefix`: a token's id prefix, put in front of the id; `onReserved`: told when reserved metadata keys were dropped. */
export function checkedChanges(
  info: HookResponse['ChangeFileInfo'],
  prefix: string | undefined,
  onReserved: () => void,
): CreateChanges | TusError {
  const changes: CreateChanges = {};
  const id = info?.ID;
  if (id !== undefined && (!isUploadId(id) || !isUploadId(`${prefix ?? ''}${id}`))) {
    return {
      status_code: 502,
      body: `The pre-create hook receiver (HOOKS_HTTP_URL) chose the upload id ${JSON.stringify(id.slice(0, 80))}, which is not valid (1 to 200 letters, digits, _ or -${prefix ? `, after the token's prefix of ${prefix.length}` : ''}); nothing was created\n`,
    };
  }
  if (id !== undefined) changes.id = id;
  const metadata = info?.MetaData;
  if (!metadata) return changes;
  const allowed = clientMetadata(metadata) as Record<string, string>;
  // Printable ASCII without commas, as clients' keys: a control character made every HEAD of the upload fail.
  const bad = Object.keys(allowed).find((key) => !/^[\x21-\x2b\x2d-\x7e]+$/.test(key) || key in Object.prototype);
  if (bad !== undefined) {
    return {
      status_code: 502,
      body: `The pre-create hook receiver (HOOKS_HTTP_URL) set the metadata key ${JSON.stringify(bad.slice(0, 80))}, which is not valid (printable ASCII without spaces or commas, not a name every object has); nothing was created\n`,
    };
  }
  if (Object.keys(allowed).length < Object.keys(metadata).length) onReserved();
  changes.metadata = allowed;
  return changes;
}

/**
 * The id a hook chose (`full`, after the token's prefix), claimed until the request ends
 * (MountHooks.end), on every instance when they share Redis: a concurrent creation given the
 * same id would pass the check that no upload has it too, and its creation would replace this
 * one (and its owner). The store's exclusive create guards it as well. Without a request
 * context there is nothing to hold a claim, and only the check is made.
 */
export async function claimChosenId(
  full: string,
  context: HookContext | undefined,
  where: { claims: IdClaims; location: string; store: DataStore },
): Promise<TusError | undefined> {
  let claim: Awaited<ReturnType<IdClaims['claim']>> | undefined;
  if (context) {
    try {
      claim = await where.claims.claim(where.location, full);
    } catch (error) {
      return error as TusError;
    }
    if (!claim) return ID_IN_USE;
  }
  const exists = await readWithoutLock(where.store, full).then(
    () => true,
    () => false,
  );
  if (exists) {
    await claim?.release();
    return ID_IN_USE;
  }
  if (context && claim) context.claimed = { id: full, claim };
  return undefined;
}
