/**
 * GET of a finished upload (`id` from the one id parser, src/tus/upload-id.ts): its bytes with Content-Type, Content-Length,
 * Content-Disposition and Range support (206), answered by us rather than by
 * @tus/server's GET handler (which has crashed the process under Node 20).
 */
import type { DataStore } from '@tus/utils';
import type { FastifyReply, FastifyRequest } from 'fastify';
import parseRange from 'range-parser';
import { isRangedReader, isUploadReader } from '../stores/capabilities.js';
import { contentTypeOf, servedDisposition } from '../stores/content-headers.js';

export async function download(
  request: FastifyRequest,
  reply: FastifyReply,
  store: DataStore,
  id: string | undefined,
): Promise<FastifyReply> {
  const text = (status: number, body: string) => reply.code(status).type('text/plain; charset=utf-8').send(`${body}\n`);
  if (!id || !isRangedReader(store)) return text(404, 'No such upload');
  let upload: Awaited<ReturnType<DataStore['getUpload']>>;
  try {
    // Without the upload's lock: a read that changes nothing (a finished upload never changes).
    upload = await (isUploadReader(store) ? store.readUpload(id) : store.getUpload(id));
  } catch (error) {
    const e = error as { status_code?: number; body?: string };
    if (e.status_code === 404 || e.status_code === 410) return text(e.status_code, 'No such upload');
    throw error;
  }
  if (upload.size === undefined || upload.offset < upload.size) {
    return text(
      400,
      `The upload is not finished (${upload.offset} of ${upload.size ?? 'an unknown number of'} bytes); download it once it is`,
    );
  }
  const size = upload.size;
  const type = contentTypeOf(upload.metadata);
  const disposition = servedDisposition(upload.metadata);
  reply
    .header('Content-Type', type)
    .header('Accept-Ranges', 'bytes')
    .header('X-Content-Type-Options', 'nosniff')
    .header('Cache-Control', 'no-store');
  if (disposition) reply.header('Content-Disposition', disposition);
  // Downloads carry no validator (ETag, Last-Modified), so no If-Range can match: its Range is ignored (RFC 9110 13.1.5).
  const range = requestedRange(size, request.headers['if-range'] === undefined ? request.headers.range : undefined);
  if (!range) {
    reply.header('Content-Range', `bytes */${size}`);
    return text(416, `Range not satisfiable: the upload has ${size} bytes`);
  }
  const { start, end } = range;
  if (range.partial) reply.code(206).header('Content-Range', `bytes ${start}-${end}/${size}`);
  reply.header('Content-Length', String(size === 0 ? 0 : end - start + 1));
  if (size === 0) return reply.send('');
  let body: Awaited<ReturnType<typeof store.openRange>>;
  try {
    body = await store.openRange(id, start, end);
  } catch (error) {
    const e = error as { status_code?: number; body?: string };
    if (e.status_code === undefined || e.body === undefined) throw error;
    if (e.status_code === 503) reply.header('Retry-After', '1');
    for (const name of ['Content-Length', 'Content-Range', 'Content-Disposition', 'Accept-Ranges']) reply.removeHeader(name);
    return text(e.status_code, e.body.trim());
  }
  return reply.send(body);
}

/**
 * The bytes a GET of `size` bytes asks for (`end` inclusive): the first range of `Range`
 * (`partial`, answered 206), or all of them; undefined when no range is satisfiable (416).
 */
function requestedRange(size: number, header: string | undefined): { start: number; end: number; partial: boolean } | undefined {
  const all = { start: 0, end: size - 1, partial: false };
  if (!header || size === 0) return all;
  // range-parser finds a suffix longer than the upload unsatisfiable; RFC 9110 (14.1.2) selects all of it.
  const suffixes = header.replace(/([=,]\s*)-\s*(\d+)/g, (whole, before: string, n: string) => (Number(n) > size ? `${before}0-` : whole));
  const ranges = parseRange(size, suffixes, { combine: true });
  if (ranges === -1) return undefined;
  // Malformed ranges are ignored (RFC 9110); several ranges are answered with the first.
  if (ranges === -2 || ranges.type !== 'bytes' || !ranges[0]) return all;
  return { start: ranges[0].start, end: ranges[0].end, partial: true };
}
