/**
 * What a creation `POST` may ask for, checked before anything is created: its metadata
 * (syntax, bytes, keys), its type (FILES_MIME_TYPE_ALLOW_LIST, as in Directus) and its length
 * (FILES_MAX_UPLOAD_SIZE). The server's limits, or a location's, are narrowed by the request's
 * token (`contentTypes`, `maxSize` of its Grant): the smaller size, and a type both allow.
 */
import type { Grant } from '../auth/grant.js';
import type { Answer } from './answer.js';
import { refuse } from './refusals.js';
import { parseUploadMetadata } from './upload-metadata.js';

export interface CreationLimits {
  /** Largest upload in bytes; 0: no limit. */
  maxSize: number;
  /** Each list a type must match (wildcards such as `image/*`); a type must pass every one. */
  mimeTypes: readonly (readonly string[])[];
  maxMetadataSize: number;
  maxMetadataKeys: number;
}

/** The type of an upload whose metadata names none (as in Directus). */
export const DEFAULT_TYPE = 'application/octet-stream';

/** The location's limits narrowed by the request's token, if any. */
export function narrowLimits(limits: CreationLimits, grant: Pick<Grant, 'maxSize' | 'contentTypes'> | undefined): CreationLimits {
  if (!grant) return limits;
  const narrowed = { ...limits };
  if (grant.maxSize !== undefined && (limits.maxSize === 0 || grant.maxSize < limits.maxSize)) narrowed.maxSize = grant.maxSize;
  if (grant.contentTypes) narrowed.mimeTypes = [...limits.mimeTypes, grant.contentTypes.map((t) => t.toLowerCase())];
  return narrowed;
}

/** `type` matches `pattern` (`*` stands for any characters but `/`), ignoring case and parameters. */
export function typeMatches(type: string, pattern: string): boolean {
  const essence = type.split(';')[0]?.trim().toLowerCase() ?? '';
  const [patternType = '', patternSub = ''] = pattern.toLowerCase().split('/');
  const parts = essence.split('/');
  if (parts.length !== 2) return false;
  const [typePart = '', subPart = ''] = parts;
  return globPart(typePart, patternType) && globPart(subPart, patternSub);
}

function globPart(value: string, pattern: string): boolean {
  const regex = new RegExp(`^${pattern.split('*').map(escapeRegex).join('[^/]*')}$`);
  return regex.test(value);
}
const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The types an upload's metadata declares: `filetype` (tus-js-client, Uppy), `contentType`
 * and `type` (Uppy, Directus); all are checked when several are sent, since any may become the
 * served Content-Type. None: application/octet-stream.
 */
export function declaredTypes(metadata: ReadonlyMap<string, string | null>): string[] {
  // Every key the served Content-Type may come from (src/stores/content-headers.ts contentTypeOf).
  const types = ['filetype', 'contentType', 'type'].flatMap((key) => {
    const value = metadata.get(key)?.trim();
    return value ? [value] : [];
  });
  return types.length > 0 ? [...new Set(types)] : [DEFAULT_TYPE];
}

type Headers = Record<string, string | string[] | undefined>;

/**
 * The answer refusing a creation `POST` (400 metadata, 415 type, 413 length), or undefined
 * when it may go on (a token's deferred length is refused by authentication). A partial upload of a
 * concatenation is checked for its type only when it declares one (tus-js-client sends its
 * partials without metadata); the final upload's type is checked like any upload's.
 */
export function checkCreation(headers: Headers, limits: CreationLimits): Answer | undefined {
  const header = headers['upload-metadata'];
  let metadata: ReadonlyMap<string, string | null> = new Map();
  if (typeof header === 'string' && header.trim() !== '') {
    const parsed = parseUploadMetadata(header, { maxSize: limits.maxMetadataSize, maxKeys: limits.maxMetadataKeys });
    if (!parsed.ok) return refuse('badMetadata', parsed.problem);
    metadata = parsed.metadata;
  }
  const partial = headers['upload-concat'] === 'partial';
  if (!partial || metadata.has('filetype') || metadata.has('contentType') || metadata.has('type')) {
    for (const type of declaredTypes(metadata)) {
      for (const list of limits.mimeTypes) {
        if (!list.some((pattern) => typeMatches(type, pattern))) {
          return refuse('typeNotAllowed', type, list);
        }
      }
    }
  }
  const length = headers['upload-length'];
  if (limits.maxSize > 0 && typeof length === 'string' && /^\d+$/.test(length) && Number(length) > limits.maxSize) {
    return refuse('lengthAboveMax', length, limits.maxSize);
  }
  return undefined;
}
