/** bodyPieces: reading a request body until it ends, fails, or a lock release stops it (keeping every byte). */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import t from 'tap';
import { BodyCut, bodyPieces } from '../../src/stores/body-pieces.js';
import { until } from '../helpers/wait.js';

interface Reading {
  pieces: Buffer[];
  /** Bytes yielded so far. */
  readonly bytes: number;
  /** The iteration is over (ended or threw). */
  readonly settled: boolean;
  /** Resolves when the iteration ends, rejects with what it threw. */
  done: Promise<void>;
}

function read(body: Readable, stop?: AbortSignal): Reading {
  const pieces: Buffer[] = [];
  let settled = false;
  const done = (async () => {
    for await (const piece of bodyPieces(body, stop)) pieces.push(piece);
  })().finally(() => {
    settled = true;
  });
  done.catch(() => {});
  return {
    pieces,
    get bytes() {
      return pieces.reduce((n, p) => n + p.length, 0);
    },
    get settled() {
      return settled;
    },
    done,
  };
}

/** The promise, or a rejection if it takes longer than `ms` (a guard against hanging, not a wait). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed + (i >> 8)) & 0xff));

t.test('yields every byte of the body in order and ends at its end', async (t) => {
  const body = new PassThrough();
  const reading = read(body);
  const sent = [bytes(10, 1), bytes(70_000, 2), bytes(1, 3), bytes(5000, 4)];
  let total = 0;
  for (const chunk of sent) {
    body.write(chunk);
    total += chunk.length;
    await until(() => reading.bytes === total, `${total} bytes yielded`, 5000, 1);
  }
  t.equal(reading.settled, false, 'the body has not ended: the iteration waits');
  const last = bytes(3000, 5);
  body.end(last);
  await within(reading.done, 5000, 'the end of the iteration');
  t.ok(Buffer.concat(reading.pieces).equals(Buffer.concat([...sent, last])), 'every byte, in order');
  t.equal(body.listenerCount('readable') + body.listenerCount('close') + body.listenerCount('end'), 0, 'its listeners are removed');

  // Bytes written all at once before reading starts.
  const quick = new PassThrough();
  quick.end(Buffer.concat(sent));
  const all = read(quick);
  await within(all.done, 5000, 'the end of the iteration');
  t.ok(Buffer.concat(all.pieces).equals(Buffer.concat(sent)));

  const empty = new PassThrough();
  empty.end();
  const none = read(empty);
  await within(none.done, 5000, 'the end of an empty body');
  t.same(none.pieces, []);
});

t.test('stop while the body is idle: ends promptly, keeps every byte, leaves the body intact', async (t) => {
  const body = new PassThrough();
  const stop = new AbortController();
  const reading = read(body, stop.signal);
  const before = [bytes(1000, 1), bytes(20_000, 2)];
  body.write(before[0]);
  body.write(before[1]);
  await until(() => reading.bytes === 21_000, 'the bytes written to be yielded', 5000, 1);
  t.equal(reading.settled, false, 'idle, waiting for more');
  stop.abort();
  await within(reading.done, 1000, 'the iteration to end after stop');
  t.ok(Buffer.concat(reading.pieces).equals(Buffer.concat(before)), 'every byte written before the stop was yielded');
  t.equal(body.destroyed, false, 'the body is not destroyed');
  t.equal(body.listenerCount('readable') + body.listenerCount('close') + body.listenerCount('end') + body.listenerCount('error'), 0);

  // The body still works: the next reader gets what comes after.
  body.end(bytes(10, 9));
  const after: Buffer[] = [];
  for await (const chunk of body) after.push(chunk as Buffer);
  t.ok(Buffer.concat(after).equals(bytes(10, 9)), 'bytes written after the stop are left in the body');

  // Already stopped: nothing is read at all.
  const other = new PassThrough();
  other.write(bytes(5, 1));
  const stopped = read(other, AbortSignal.abort());
  await within(stopped.done, 1000, 'the iteration to end');
  t.same(stopped.pieces, []);
  t.equal(other.destroyed, false);
  t.equal(other.readableLength, 5, 'the bytes stay in the body');
});

/** What the iteration of `reading` fails with (undefined if it ends), within 5 s. */
const failureOf = (reading: { done: Promise<unknown> }) =>
  within(
    reading.done.then(
      () => undefined,
      (error: unknown) => error,
    ),
    5000,
    'the iteration to fail',
  );

t.test('a body destroyed with an error: what arrived before is yielded, then that error is thrown', async (t) => {
  const body = new PassThrough();
  const reading = read(body);
  body.write(bytes(4000, 1));
  await until(() => reading.bytes === 4000, 'the first bytes to be yielded', 5000, 1);
  const boom = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  body.destroy(boom);
  const thrown = await failureOf(reading);
  t.equal(thrown, boom, 'the very error the body failed with');
  t.ok(Buffer.concat(reading.pieces).equals(bytes(4000, 1)));
});

t.test('a body that closes without ending throws BodyCut', async (t) => {
  const body = new PassThrough();
  const reading = read(body);
  body.write(bytes(300, 4));
  await until(() => reading.bytes === 300, 'the first bytes to be yielded', 5000, 1);
  body.destroy();
  const thrown = await failureOf(reading);
  t.ok(thrown instanceof BodyCut, `BodyCut, not ${String(thrown)}`);
  t.equal((thrown as Error).name, 'BodyCut');
  t.equal((thrown as Error).message, 'the request body ended before its announced end');
  t.ok(Buffer.concat(reading.pieces).equals(bytes(300, 4)), 'the bytes before the cut were yielded');
});

t.test('a node:http request body whose client disconnects mid-body rejects, after yielding what arrived', async (t) => {
  let reading: Reading | undefined;
  const server: Server = createServer((req: IncomingMessage, res) => {
    reading = read(req);
    reading.done.then(
      () => res.end('ended'),
      () => res.destroy(),
    );
  });
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const client = connect(port, '127.0.0.1');
  client.on('error', () => {});
  await new Promise<void>((resolve) => client.once('connect', resolve));
  const sent = bytes(1500, 6);
  client.write(`PATCH /files/abc HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 100000\r\n\r\n`);
  client.write(sent);
  await until(() => reading !== undefined && reading.bytes === sent.length, 'the server to read the bytes sent', 5000, 5);
  t.equal(reading!.settled, false, 'the body is not over: 98,500 bytes are still announced');
  client.destroy();
  const thrown = await within(
    reading!.done.then(
      () => undefined,
      (error: unknown) => error,
    ),
    5000,
    'the iteration to fail after the disconnect',
  );
  t.ok(thrown instanceof Error, `the iteration rejects (got ${String(thrown)})`);
  t.ok(
    thrown instanceof BodyCut || (thrown as { code?: string }).code === 'ECONNRESET',
    `a cut body (BodyCut or ECONNRESET), not ${String(thrown)}`,
  );
  t.ok(Buffer.concat(reading!.pieces).equals(sent), 'every byte that arrived was yielded');
});
