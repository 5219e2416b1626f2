/**
 * Checks @tus/server makes differently from the tus 1.0.0 text, answered before the
 * request reaches it: 412 must carry Tus-Version and apply to unsupported versions too
 * (@tus/server answers those 400 without Tus-Version).
 */
import { TUS_RESUMABLE, TUS_VERSION } from '@tus/utils';

export interface GuardAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function checkTusRequest(method: string, headers: Record<string, string | string[] | undefined>): GuardAnswer | undefined {
  // OPTIONS needs no version; GET is a plain download, not part of the protocol.
  if (method === 'OPTIONS' || method === 'GET') return undefined;
  const version = headers['tus-resumable'];
  if (version === TUS_RESUMABLE) return undefined;
  const body =
    version === undefined
      ? `Tus-Resumable header required: send "Tus-Resumable: ${TUS_RESUMABLE}" with every tus request\n`
      : `Tus-Resumable ${JSON.stringify(version)} is not supported; this server speaks tus ${TUS_VERSION.join(', ')}\n`;
  return {
    status: 412,
    headers: { 'Tus-Resumable': TUS_RESUMABLE, 'Tus-Version': TUS_VERSION.join(','), 'Content-Type': 'text/plain; charset=utf-8' },
    body,
  };
}
