/**
 * Answers of the tus routes: our own (plain text, with Tus-Resumable), and the one place
 * where @tus/server's answers are adjusted to the tus 1.0.0 text and to this server.
 */
import { STATUS_CODES } from 'node:http';
import { TUS_RESUMABLE } from '@tus/utils';
import { CHECKSUM_ALGORITHMS } from './checksum.js';
import { showConcat } from './concatenation.js';

export interface Answer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

/** A plain-text answer; `body` says what happened and what to do. */
export function plain(status: number, body: string, headers: Record<string, string> = {}): Answer {
  return {
    status,
    body: body.endsWith('\n') || body === '' ? body : `${body}\n`,
    headers: { 'Tus-Resumable': TUS_RESUMABLE, 'Content-Type': 'text/plain; charset=utf-8', ...headers },
  };
}

/** Reason phrases the tus extensions define (Node knows only the HTTP ones). */
export const REASONS: Record<number, string> = { 460: 'Checksum Mismatch' };

export interface AdjustContext {
  method: string;
  /** Extensions answered by our layer on top of the store's. */
  extraExtensions: readonly string[];
  /** The request's Upload-Concat. */
  concat?: string | undefined;
  /** The upload's current offset, for a 409 (undefined when unknown). */
  currentOffset: () => Promise<number | undefined>;
}

/** @tus/server's answer, adjusted where the tus text or this server asks for more. */
export async function adjustAnswer(response: Response, c: AdjustContext): Promise<Response> {
  const headers = new Headers(response.headers);
  // CORS is answered by the HTTP layer (CORS_*), not by @tus/server.
  for (const name of [...headers.keys()]) if (name.startsWith('access-control-')) headers.delete(name);
  if (c.method === 'OPTIONS') {
    // @tus/server spells the concatenation extension "concatentation" (its own check needs that name).
    const extensions = [...(headers.get('tus-extension')?.split(',') ?? []), ...c.extraExtensions].map((e) =>
      e === 'concatentation' ? 'concatenation' : e,
    );
    headers.set('Tus-Extension', [...new Set(extensions)].join(','));
    headers.set('Tus-Checksum-Algorithm', CHECKSUM_ALGORITHMS.join(','));
  }
  if (c.method === 'HEAD') showConcat(headers);
  // The 201 that creates a partial upload repeats what it created.
  if (c.method === 'POST' && response.status === 201 && c.concat === 'partial') headers.set('Upload-Concat', 'partial');
  if (response.status === 409 && c.method === 'PATCH') {
    // The spec's 409 lets the client resynchronise: tell it where the upload is.
    const current = await c.currentOffset();
    if (current !== undefined) headers.set('Upload-Offset', String(current));
  }
  // A lock not released in time (@tus/server's 500, mapped to 423 in the engine): when to retry.
  if (response.status === 423) headers.set('Retry-After', '3');
  // A store or the lock service (Redis) unavailable for a moment: when to retry.
  if (response.status === 503 && !headers.has('retry-after')) headers.set('Retry-After', '3');
  // @tus/server builds Responses without a reason phrase ("HTTP/1.1 204 "); add the standard one.
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText || REASONS[response.status] || STATUS_CODES[response.status] || '',
    headers,
  });
}
