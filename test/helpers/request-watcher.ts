/**
 * A TCP relay in front of a storage server that notices one request by its head: it holds that
 * request back (the storage never sees it) or forwards it and holds the answer back (the storage
 * did it, its answer is lost), so a test can kill the server at exactly that moment.
 */
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';

/**
 * A TCP relay to the storage server at `endpoint` that calls `onHit` at the first request whose head `matches`
 * (tested on each chunk the server sends): `before` holds that request back (the storage never
 * sees it), `after` forwards it and holds the storage's answer back (the storage did it).
 */
export async function requestWatcher(
  endpoint: string,
  mode: 'before' | 'after',
  matches: (chunk: string) => boolean,
  onHit: () => void,
): Promise<{ endpoint: string; close(): void }> {
  const target = new URL(endpoint);
  let seen = false;
  const relay = createServer((c: Socket) => {
    const s = connect(Number(target.port), target.hostname);
    let armed = false;
    c.on('data', (d) => {
      if (!seen && matches(d.toString('latin1'))) {
        seen = true;
        armed = true;
        if (mode === 'before') return onHit();
      }
      if (armed && mode === 'before') return;
      s.write(d);
    });
    s.on('data', (d) => (armed ? onHit() : c.write(d)));
    c.on('error', () => s.destroy());
    s.on('error', () => c.destroy());
    c.on('close', () => s.destroy());
    s.on('close', () => c.destroy());
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  const { port } = relay.address() as { port: number };
  return { endpoint: `http://127.0.0.1:${port}`, close: () => relay.close() };
}

/** A promise `hit` resolves, and a 60 s deadline for it. */
export function awaitHit(what: string): { hit: () => void; reached: Promise<void> } {
  let hit = () => {};
  const reached = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within 60 s`)), 60_000);
    hit = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  return { hit, reached };
}
