/**
 * Checks made before a request reaches @tus/server, where it differs from the tus 1.0.0
 * text: 412 carries Tus-Version and also answers unsupported versions (@tus/server: 400
 * without Tus-Version); a PATCH with a wrong or missing Content-Type is 415 (@tus/server:
 * 400/403); a missing or invalid Upload-Offset is 400 (@tus/server: 403 when missing);
 * a bad Upload-Checksum is 400.
 */
import { TUS_RESUMABLE, TUS_VERSION } from '@tus/utils';
import { parseChecksumHeader } from './checksum.js';

export interface GuardAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

type Headers = Record<string, string | string[] | undefined>;

const answer = (status: number, body: string, extra: Record<string, string> = {}): GuardAnswer => ({
  status,
  headers: { 'Tus-Resumable': TUS_RESUMABLE, 'Content-Type': 'text/plain; charset=utf-8', ...extra },
  body: `${body}\n`,
});

export function checkTusRequest(method: string, headers: Headers): GuardAnswer | undefined {
  // OPTIONS needs no version; GET is a plain download, not part of the protocol.
  if (method === 'OPTIONS' || method === 'GET') return undefined;
  const version = headers['tus-resumable'];
  if (version !== TUS_RESUMABLE) {
    const body =
      version === undefined
        ? `Tus-Resumable header required: send "Tus-Resumable: ${TUS_RESUMABLE}" with every tus request`
        : `Tus-Resumable ${JSON.stringify(version)} is not supported; this server speaks tus ${TUS_VERSION.join(', ')}`;
    return answer(412, body, { 'Tus-Version': TUS_VERSION.join(',') });
  }
  if (method === 'PATCH') {
    const type = headers['content-type'];
    if (type !== 'application/offset+octet-stream') {
      return answer(
        415,
        `PATCH needs "Content-Type: application/offset+octet-stream"${type === undefined ? '' : `, not ${JSON.stringify(type)}`}`,
      );
    }
    const offset = headers['upload-offset'];
    if (offset === undefined)
      return answer(400, 'PATCH needs an Upload-Offset header: the offset the body starts at (HEAD tells the current one)');
    if (headerInteger(offset) === undefined) {
      return answer(400, `Upload-Offset must be a non-negative integer, not ${JSON.stringify(offset)}`);
    }
  }
  const hasBody = Number(headers['content-length'] ?? 0) > 0 || headers['transfer-encoding'] !== undefined;
  if (method === 'POST' && hasBody && headers['content-type'] !== 'application/offset+octet-stream') {
    const type = headers['content-type'];
    return answer(
      415,
      `A POST with a body (creation-with-upload) needs "Content-Type: application/offset+octet-stream"${type === undefined ? '' : `, not ${JSON.stringify(type)}`}; nothing was created`,
    );
  }
  if (method === 'POST' && headers['content-type'] === 'application/offset+octet-stream') {
    // creation-with-upload: a body longer than the upload is refused before the upload is created.
    const body = Number(headers['content-length']);
    const length = Number(headers['upload-length']);
    if (Number.isSafeInteger(body) && Number.isSafeInteger(length) && body > length) {
      return answer(413, `The body (${body} bytes) is longer than Upload-Length (${length} bytes); nothing was created`);
    }
  }
  const checksum = headers['upload-checksum'];
  if (checksum !== undefined && (method === 'PATCH' || method === 'POST')) {
    const parsed = parseChecksumHeader(String(checksum));
    if (typeof parsed === 'string') return answer(400, parsed);
  }
  return undefined;
}

/** A header's value as a non-negative safe integer (digits only), or undefined. */
export function headerInteger(value: string | string[] | undefined): number | undefined {
  return typeof value === 'string' && /^\d+$/.test(value) && Number.isSafeInteger(Number(value)) ? Number(value) : undefined;
}
