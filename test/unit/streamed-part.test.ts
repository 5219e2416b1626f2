/** StreamedPart and PartSender with a fake send function: what S3 would receive, without S3. */
import { Readable } from 'node:stream';
import t from 'tap';
import type { Body } from '../../src/stores/s3/bucket.js';
import type { CutPart } from '../../src/stores/s3/part-cutter.js';
import { PartSender, type Send } from '../../src/stores/s3/part-sender.js';
import { PartCut, StreamedPart } from '../../src/stores/s3/streamed-part.js';
import type { Part } from '../../src/stores/s3/upload-state.js';
import { until } from '../helpers/wait.js';

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff));

async function collect(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Settles to the value, or to the error it rejected with. */
const outcome = <T>(p: Promise<T>): Promise<{ value?: T; error?: unknown }> =>
  p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );

interface Call {
  body: Body;
  length: number;
  signal: AbortSignal | undefined;
}

/** A send that records its calls; `behave` decides each call's outcome (by call index). */
function fakeSend(behave: (call: Call, index: number) => Promise<Part>): { send: Send; calls: Call[] } {
  const calls: Call[] = [];
  const send: Send = (body, length, signal) => {
    const call = { body, length, signal };
    calls.push(call);
    return behave(call, calls.length - 1);
  };
  return { send, calls };
}

const stored = (number: number, length: number): Part => ({ PartNumber: number, ETag: `"etag-${number}"`, Size: length });
const cutPart = (number: number, length: number, pieces: Buffer[]): CutPart => ({ number, start: 0, length, pieces, whole: false });

/** A send that stays in flight until released. */
function gate() {
  let release!: () => void;
  const opened = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { opened, release };
}

t.test('StreamedPart: the body yields exactly the appended bytes and ends when full; whole resolves true', async (t) => {
  const part = new StreamedPart(10);
  const read = collect(part.body);
  let whole: boolean | undefined;
  void part.filled.then((w) => {
    whole = w;
  });
  part.append(bytes(4, 1));
  part.append(Buffer.alloc(0));
  await Promise.resolve();
  t.equal(whole, undefined, 'not full: whole is pending');
  part.append(bytes(6, 2));
  t.equal(await part.filled, true);
  t.ok((await read).equals(Buffer.concat([bytes(4, 1), bytes(6, 2)])), 'exactly the 10 bytes, in order, then the end');
  t.equal(part.signal.aborted, false);
  part.append(bytes(3, 3));
  part.cut();
  t.equal(part.signal.aborted, false, 'cut() after full changes nothing');
  t.equal(part.body.errored, null, 'the body ended cleanly (not destroyed with an error)');
  t.equal(part.body.readableEnded, true);
});

t.test('StreamedPart: cut() before full resolves whole false and aborts with PartCut', async (t) => {
  const part = new StreamedPart(10);
  const errors: unknown[] = [];
  part.body.on('error', (e) => errors.push(e));
  part.append(bytes(4, 1));
  part.cut();
  t.equal(await part.filled, false);
  t.equal(part.signal.aborted, true);
  t.ok(part.signal.reason instanceof PartCut, 'the abort reason is a PartCut');
  t.equal((part.signal.reason as Error).name, 'AbortError', 'named as an abort, as the SDK expects');
  t.equal((part.signal.reason as Error).message, 'the request body ended before the part was complete');
  t.equal(part.body.destroyed, true, 'the S3 request body is destroyed');
  part.append(bytes(6, 2));
  t.equal(await part.filled, false, 'bytes after the cut do not make it filled');
  await until(() => part.body.closed, 'the body to close', 5000, 1);
  t.same(errors, [], 'no error event on the body');
});

t.test('PartSender.startStream: undefined when streaming is off or PART_CONCURRENCY is reached', async (t) => {
  const never = fakeSend(() => new Promise<Part>(() => {}));
  const off = new PartSender({ queueConcurrency: 4, partConcurrency: 4, partMemory: 1024 * 1024 * 1024, streamParts: false });
  t.equal(off.startStream(cutPart(1, 10, []), never.send), undefined, 'STREAM_PARTS off');
  t.equal(off.inFlight, 0);
  t.equal(never.calls.length, 0, 'nothing sent');

  const sender = new PartSender({ queueConcurrency: 4, partConcurrency: 2, partMemory: 1024 * 1024 * 1024, streamParts: true });
  const first = sender.startStream(cutPart(1, 10, []), never.send);
  t.ok(first instanceof StreamedPart);
  t.equal(first?.length, 10);
  t.equal(sender.inFlight, 1);
  const g = gate();
  const full = fakeSend(async (call) => {
    await g.opened;
    return stored(2, call.length);
  });
  const dispatched = sender.dispatch(cutPart(2, 3, [bytes(3, 1)]), full.send, undefined);
  await until(() => sender.inFlight === 2, 'the full part to be in flight', 5000, 1);
  t.equal(sender.startStream(cutPart(3, 10, []), never.send), undefined, 'a stream and a full part: PART_CONCURRENCY 2 reached');
  t.equal(never.calls.length, 1, 'only the first stream was sent');
  g.release();
  t.same(await dispatched, stored(2, 3));
  await until(() => sender.inFlight === 1, 'the full part to leave', 5000, 1);
  const third = sender.startStream(cutPart(3, 10, []), never.send);
  t.ok(third instanceof StreamedPart, 'room again once the full part is stored');
  t.equal(sender.inFlight, 2);
  first!.cut();
  third!.cut();
  await until(() => sender.inFlight === 0, 'cut streams to leave', 5000, 1);
  t.equal(sender.inFlight, 0);
});

t.test('a streamed part whose send fails after it filled is sent again once, as a Buffer of the same bytes', async (t) => {
  const sender = new PartSender({ queueConcurrency: 2, partConcurrency: 2, partMemory: 1024 * 1024 * 1024, streamParts: true });
  let streamedBytes: Buffer | undefined;
  const { send, calls } = fakeSend(async (call, index) => {
    if (index === 0) {
      streamedBytes = await collect(call.body as Readable);
      throw Object.assign(new Error('SlowDown'), { name: 'SlowDown' });
    }
    return stored(7, call.length);
  });
  const a = bytes(4, 1);
  const b = bytes(6, 2);
  const pieces = [a];
  const part = cutPart(7, 10, pieces);
  const streamed = sender.startStream(part, send)!;
  t.ok(streamed);
  t.equal(calls.length, 1, 'the S3 request starts before the part is full');
  t.ok(calls[0]!.body instanceof Readable, 'streamed: its body is the stream');
  t.equal(calls[0]!.body, streamed.body);
  t.equal(calls[0]!.length, 10);
  t.equal(calls[0]!.signal, streamed.signal);
  // The write loop adds the next piece to the part's pieces and to the stream.
  pieces.push(b);
  streamed.append(b);
  const result = await sender.dispatch(part, send, streamed);
  t.same(result, stored(7, 10), 'the re-send answers');
  t.ok(streamedBytes?.equals(Buffer.concat([a, b])), 'the stream carried the part');
  t.equal(calls.length, 2, 'sent exactly twice');
  t.ok(Buffer.isBuffer(calls[1]!.body), 'the re-send is a Buffer (the SDK can retry it)');
  t.ok((calls[1]!.body as Buffer).equals(Buffer.concat([a, b])), 'of the same bytes');
  t.equal(calls[1]!.length, 10);
  t.equal(calls[1]!.signal, undefined);
  await until(() => sender.inFlight === 0, 'the part to leave', 5000, 1);
});

t.test('a streamed send that fails before the part is full is re-sent once it fills', async (t) => {
  const sender = new PartSender({ queueConcurrency: 2, partConcurrency: 2, partMemory: 1024 * 1024 * 1024, streamParts: true });
  const { send, calls } = fakeSend(async (call, index) => {
    if (index === 0) throw new Error('connection reset');
    return stored(1, call.length);
  });
  const pieces = [bytes(5, 1)];
  const part = cutPart(1, 8, pieces);
  const streamed = sender.startStream(part, send)!;
  await until(() => calls.length === 1, 'the first attempt', 5000, 1);
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(calls.length, 1, 'no re-send before the part is full');
  pieces.push(bytes(3, 2));
  streamed.append(bytes(3, 2));
  t.same(await streamed.task, stored(1, 8));
  t.equal(calls.length, 2);
  t.ok((calls[1]!.body as Buffer).equals(Buffer.concat([bytes(5, 1), bytes(3, 2)])));
});

t.test('a streamed send that fails after cut() rejects with PartCut, and is not sent again', async (t) => {
  const sender = new PartSender({ queueConcurrency: 2, partConcurrency: 2, partMemory: 1024 * 1024 * 1024, streamParts: true });
  const { send, calls } = fakeSend(
    (call) =>
      new Promise<Part>((_, reject) => {
        call.signal?.addEventListener('abort', () => reject(call.signal?.reason));
      }),
  );
  const streamed = sender.startStream(cutPart(3, 10, [bytes(4, 1)]), send)!;
  t.equal(sender.inFlight, 1);
  streamed.cut();
  const { error } = await outcome(streamed.task);
  t.ok(error instanceof PartCut, `PartCut, not ${String(error)}`);
  t.equal(calls.length, 1, 'no re-send of a part the request left short');
  await until(() => sender.inFlight === 0, 'the stream to leave', 5000, 1);

  // The same when the send fails on its own, and the part is then cut.
  const failing = fakeSend(async () => {
    throw new Error('network');
  });
  const other = sender.startStream(cutPart(4, 10, []), failing.send)!;
  await until(() => failing.calls.length === 1, 'the attempt', 5000, 1);
  other.cut();
  const second = await outcome(other.task);
  t.ok(second.error instanceof PartCut);
  t.equal(failing.calls.length, 1);
});

t.test('dispatch of a buffered part sends Buffer.concat of its pieces', async (t) => {
  const sender = new PartSender({ queueConcurrency: 2, partConcurrency: 2, partMemory: 1024 * 1024 * 1024, streamParts: false });
  const { send, calls } = fakeSend(async (call) => stored(5, call.length));
  const pieces = [bytes(3, 1), bytes(1, 2), bytes(6, 3)];
  const result = await sender.dispatch(cutPart(5, 10, pieces), send, undefined);
  t.same(result, stored(5, 10));
  t.equal(calls.length, 1);
  t.ok(Buffer.isBuffer(calls[0]!.body));
  t.ok((calls[0]!.body as Buffer).equals(Buffer.concat(pieces)), 'the pieces, in order');
  t.equal(calls[0]!.length, 10);
  t.equal(calls[0]!.signal, undefined);

  const failure = new Error('InternalError');
  const failing = fakeSend(async () => {
    throw failure;
  });
  const { error } = await outcome(sender.dispatch(cutPart(6, 1, [bytes(1, 1)]), failing.send, undefined));
  t.equal(error, failure, 'a failed buffered part rejects with its error (no re-send here: the SDK retries Buffers)');
  t.equal(failing.calls.length, 1);
});

t.test('inFlight counts full parts being sent and streams, and returns to 0', async (t) => {
  const sender = new PartSender({ queueConcurrency: 2, partConcurrency: 4, partMemory: 1024 * 1024 * 1024, streamParts: true });
  const gates = [gate(), gate(), gate()];
  const { send, calls } = fakeSend(async (call, index) => {
    if (call.body instanceof Readable) await collect(call.body);
    await gates[index]!.opened;
    return stored(index + 1, call.length);
  });
  t.equal(sender.inFlight, 0);
  const pieces: Buffer[] = [];
  const part = cutPart(1, 4, pieces);
  const streamed = sender.startStream(part, send)!;
  t.equal(sender.inFlight, 1, 'a stream filling');
  const a = sender.dispatch(cutPart(2, 2, [bytes(2, 1)]), send, undefined);
  await until(() => sender.inFlight === 2, 'a full part and a stream', 5000, 1);
  const b = sender.dispatch(cutPart(3, 2, [bytes(2, 2)]), send, undefined);
  await until(() => sender.inFlight === 3, 'two full parts and a stream', 5000, 1);
  t.equal(calls.length, 3);

  // The stream fills: it leaves the streams and joins the queue's parts (the queue holds 2 at
  // once, so it waits: a part waiting for a slot is not in flight).
  pieces.push(bytes(4, 3));
  streamed.append(bytes(4, 3));
  const c = sender.dispatch(part, send, streamed);
  await until(() => sender.inFlight === 2, 'the filled stream to wait for a queue slot', 5000, 1);
  t.equal(sender.queue.size, 1, 'one part waiting');
  gates[1]!.release();
  t.same(await a, stored(2, 2));
  await until(() => sender.inFlight === 2 && sender.queue.size === 0, 'the filled stream to take the slot', 5000, 1);
  gates[2]!.release();
  t.same(await b, stored(3, 2));
  gates[0]!.release();
  t.same(await c, stored(1, 4));
  await until(() => sender.inFlight === 0, 'every part to leave', 5000, 1);
  t.equal(sender.inFlight, 0);
  t.equal(calls.length, 3, 'the streamed part was sent once');
});
