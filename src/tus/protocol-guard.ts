/**
 * Checks made before a request reaches @tus/server, where it differs from the tus 1.0.0
 * text: 412 carries Tus-Version and also answers unsupported versions (@tus/server: 400
 * without Tus-Version); a PATCH with a wrong or missing Content-Type is 415 (@tus/server:
 * 400/403); a missing or invalid Upload-Offset is 400 (@tus/server: 403 when missing);
 * a bad Upload-Checksum is 400.
 */
import { TUS_RESUMABLE } from '@tus/utils';
import type { Answer } from './answer.js';
import { parseChecksumHeader } from './checksum.js';
import { refuse } from './refusals.js';

type Headers = Record<string, string | string[] | undefined>;

export function checkTusRequest(method: string, headers: Headers): Answer | undefined {
  // OPTIONS needs no version; GET is a plain download, not part of the protocol.
  if (method === 'OPTIONS' || method === 'GET') return undefined;
  const version = headers['tus-resumable'];
  if (version !== TUS_RESUMABLE) {
    return version === undefined ? refuse('tusResumableMissing') : refuse('tusVersionUnsupported', version);
  }
  if (method === 'PATCH') {
    const type = headers['content-type'];
    if (type !== 'application/offset+octet-stream') {
      return refuse('patchContentType', type);
    }
    const offset = headers['upload-offset'];
    if (offset === undefined) return refuse('patchWithoutOffset');
    if (headerInteger(offset) === undefined) return refuse('badOffset', offset);
  }
  const hasBody = Number(headers['content-length'] ?? 0) > 0 || headers['transfer-encoding'] !== undefined;
  if (method === 'POST' && hasBody && headers['content-type'] !== 'application/offset+octet-stream') {
    const type = headers['content-type'];
    return refuse('postContentType', type);
  }
  if (method === 'POST' && headers['content-type'] === 'application/offset+octet-stream') {
    // creation-with-upload: a body longer than the upload is refused before the upload is created.
    const body = Number(headers['content-length']);
    const length = Number(headers['upload-length']);
    if (Number.isSafeInteger(body) && Number.isSafeInteger(length) && body > length) {
      return refuse('bodyBeyondLength', body, length);
    }
  }
  const checksum = headers['upload-checksum'];
  if (checksum !== undefined && (method === 'PATCH' || method === 'POST')) {
    const parsed = parseChecksumHeader(String(checksum));
    if (typeof parsed === 'string') return refuse('badChecksumHeader', parsed);
  }
  return undefined;
}

/** A header's value as a non-negative safe integer (digits only), or undefined. */
export function headerInteger(value: string | string[] | undefined): number | undefined {
  return typeof value === 'string' && /^\d+$/.test(value) && Number.isSafeInteger(Number(value)) ? Number(value) : undefined;
}
