import { request } from 'node:http';
import { patchHeaders } from './raw-request.js';

/**
 * Send a request whose body is cut off: its headers announce the length, only `sent` bytes of
 * `data` arrive, then the socket dies. Resolves once the exchange is over, whatever the answer.
 */
export async function cutRequest(
  url: string,
  method: string,
  headers: Record<string, string>,
  data: Uint8Array,
  sent: number,
): Promise<void> {
  await new Promise<void>((resolve) => {
    const req = request(url, { method, headers });
    req.on('error', () => resolve());
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('close', () => resolve());
    // The connection ends after the bytes sent (TCP delivers them before the FIN), short of
    // the announced length: the server sees the body cut off after exactly `sent` bytes.
    req.write(data.subarray(0, sent), () => req.socket?.end());
  });
}

/** Send a PATCH whose body is cut off: headers announce `declared` bytes, only `sent` arrive, then the socket dies. */
export function cutPatch(url: string, offset: number, data: Uint8Array, sent: number, declared = data.length): Promise<void> {
  return cutRequest(url, 'PATCH', patchHeaders(offset, { 'Content-Length': String(declared) }), data, sent);
}

/** Poll HEAD until the offset stops moving (the interrupted request has released its lock). */
export async function settledOffset(url: string, expected?: number, timeoutMs = 20000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  while (Date.now() < deadline) {
    const res = await fetch(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' } });
    const offset = Number(res.headers.get('upload-offset'));
    if (expected !== undefined ? offset === expected : offset === last) return offset;
    last = offset;
    await new Promise((r) => setTimeout(r, 200));
  }
  return last;
}
