/**
 * Per-upload ownership: an upload created by an authenticated request stores its subject
 * under a reserved metadata key (never shown to clients, never settable by them), and only
 * that subject may see it. To anyone else it does not exist: the same 404 as an unknown id.
 * Uploads created while authentication was off have no owner and stay open to any
 * authenticated caller.
 */
import type { Upload } from '@tus/utils';
import { contextOfWeb } from '../tus/web-request.js';
import type { Grant } from './grant.js';

export const OWNER_KEY = 'tus-owner';

/** The grant of the request a web Request was made from (for @tus/server's callbacks). */
export function grantOf(request: Request): Grant | undefined {
  return contextOfWeb(request)?.grant;
}

export function ownerOf(upload: Upload): string | undefined {
  return upload.metadata?.[OWNER_KEY] ?? undefined;
}

/** Authentication off (no grant), an upload without owner, or the owner itself. */
export function mayAccess(grant: Grant | undefined, upload: Upload): boolean {
  const owner = ownerOf(upload);
  return !grant || owner === undefined || owner === grant.owner;
}

/** Metadata of a new upload with its owner recorded. */
export function withOwner(metadata: Upload['metadata'], grant: Grant | undefined): Upload['metadata'] {
  return grant ? { ...metadata, [OWNER_KEY]: grant.owner } : metadata;
}

/** Error a read of someone else's upload fails with: the store's own "not found". */
const NOT_FOUND = Object.freeze({ status_code: 404, body: 'The file for this url was not found\n' });

/** A read that treats another subject's upload as missing. */
export function ownedRead(read: (id: string) => Promise<Upload>, grant: Grant | undefined): (id: string) => Promise<Upload> {
  return async (id) => {
    const upload = await read(id);
    if (!mayAccess(grant, upload)) throw NOT_FOUND;
    return upload;
  };
}
