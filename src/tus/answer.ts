/**
 * The one answer type of the tus routes, `Answer`: our own answers (plain text, with
 * Tus-Resumable), and @tus/server's, turned into one at the boundary (`answerOf`, its small text
 * bodies read). Every transformation works on it: here the one place where @tus/server's
 * answers are adjusted to the tus 1.0.0 text and to this server (`adjustAnswer`).
 */
import { STATUS_CODES } from 'node:http';
import { TUS_RESUMABLE } from '@tus/utils';
import { CHECKSUM_ALGORITHMS } from './checksum.js';
import { showConcat } from './concatenation.js';

export interface Answer {
  status: number;
  body: string;
  /** Names in any case: read them with `headerOf`, change them through `Headers` (case-insensitive). */
  headers: Record<string, string>;
}

/** A plain-text answer; `body` says what happened and what to do. */
export function plain(status: number, body: string, headers: Record<string, string> = {}): Answer {
  return {
    status,
    body: body.endsWith('\n') || body === '' ? body : `${body}\n`,
    headers: { 'Tus-Resumable': TUS_RESUMABLE, 'Content-Type': 'text/plain; charset=utf-8', ...headers },
  };
}

/**
 * @tus/server's answer (a web Response) as ours, at the boundary: its bodies (HEAD, PATCH, POST,
 * DELETE, OPTIONS: @tus/server's short messages) read whole; GET never reaches it
 * (src/http/download.ts streams). Content-Length is the sender's to set.
 */
export async function answerOf(response: Response): Promise<Answer> {
  const headers = new Headers(response.headers);
  headers.delete('content-length');
  return { status: response.status, body: await response.text(), headers: Object.fromEntries(headers) };
}

/** A header of the answer, its name in any case. */
export function headerOf(answer: Answer, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(answer.headers)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/** The answer with `change` made to its headers (as `Headers`: names in any case). */
export function withHeaders(answer: Answer, change: (headers: Headers) => void): Answer {
  const headers = new Headers(answer.headers);
  change(headers);
  return { ...answer, headers: Object.fromEntries(headers) };
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

/** The reason phrase an answer of `status` goes out with. */
export const reasonOf = (status: number): string => REASONS[status] ?? STATUS_CODES[status] ?? '';

/** @tus/server's answer, adjusted where the tus text or this server asks for more. */
export async function adjustAnswer(answer: Answer, c: AdjustContext): Promise<Answer> {
  const { status } = answer;
  // The spec's 409 lets the client resynchronise: where the upload is, read before the headers change.
  const current = status === 409 && c.method === 'PATCH' ? await c.currentOffset() : undefined;
  return withHeaders(answer, (headers) => {
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
    if (c.method === 'POST' && status === 201 && c.concat === 'partial') headers.set('Upload-Concat', 'partial');
    if (current !== undefined) headers.set('Upload-Offset', String(current));
    // A lock not released in time (@tus/server's 500, mapped to 423 in the engine): when to retry.
    if (status === 423) headers.set('Retry-After', '3');
    // A store or the lock service (Redis) unavailable for a moment: when to retry.
    if (status === 503 && !headers.has('retry-after')) headers.set('Retry-After', '3');
  });
}
