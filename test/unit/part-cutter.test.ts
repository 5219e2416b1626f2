/**
 * PartCutter: the pure bookkeeping that turns one request's body into parts (no S3, no I/O).
 * Every expected length below is the one the part plan dictates; a cutter that copies, drops,
 * reorders or misplaces a byte, or picks another part length, fails these.
 */
import t from 'tap';
import { type CutPart, type CutterOptions, PartCutter, type Remainder } from '../../src/stores/s3/part-cutter.js';
import { choosePartLength, MiB, planParts } from '../../src/stores/s3/part-size.js';

/** Distinct bytes at every offset (a byte's value follows from its position), so misplaced bytes show. */
function pattern(length: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed + (i >>> 8)) & 0xff;
  return b;
}

const knownPlan = (size: number) => planParts({ size, preferred: 5 * MiB, equalParts: false, maxUploadSize: 0 });

function options(o: Partial<CutterOptions> & Pick<CutterOptions, 'size'>): CutterOptions {
  return {
    plan: o.plan ?? knownPlan(o.size ?? 100 * MiB),
    equalParts: false,
    maxUploadSize: 0,
    firstPart: 1,
    start: 0,
    expectedBytes: undefined,
    maxBytes: Number.MAX_SAFE_INTEGER,
    canBeWhole: false,
    ...o,
  };
}

interface Fed {
  parts: CutPart[];
  end: Remainder;
  /** Every piece `take` returned, in order. */
  pieces: Buffer[];
}

/** Feed `body` in `chunk`-byte pieces the way the store's write loop does: take, and next() once full. */
function feed(cutter: PartCutter, body: Buffer, chunk = 1 * MiB): Fed {
  const parts: CutPart[] = [];
  const pieces: Buffer[] = [];
  for (let at = 0; at < body.length && !cutter.tooLarge; at += chunk) {
    let rest = body.subarray(at, Math.min(body.length, at + chunk));
    while (rest.length > 0 && !cutter.tooLarge) {
      const taken = cutter.take(rest);
      rest = taken.rest;
      if (taken.piece) pieces.push(taken.piece);
      if (cutter.full) parts.push(cutter.next());
    }
  }
  return { parts, end: cutter.end(), pieces };
}

const lengths = (parts: CutPart[]) => parts.map((p) => p.length);
/** A part without its bytes (pieces as their lengths), so that a failed comparison prints no megabytes. */
const shape = (p: Readonly<CutPart>) => ({
  number: p.number,
  start: p.start,
  length: p.length,
  whole: p.whole,
  pieces: p.pieces.map((x) => x.length),
});
const endShape = (r: Remainder) => (r.kind === 'nothing' ? r : { kind: r.kind, part: shape(r.part) });
const bytesOf = (part: CutPart) => Buffer.concat(part.pieces);

t.test('take fills the current part until full; next() closes it and starts the next part', async (t) => {
  const cutter = new PartCutter(options({ size: 100 * MiB, expectedBytes: undefined }));
  t.same(shape(cutter.current), { number: 1, start: 0, length: 5 * MiB, pieces: [], whole: false }, 'part 1: the nominal 5 MiB');
  t.equal(cutter.full, false);

  const body = pattern(6 * MiB);
  const first = cutter.take(body.subarray(0, 3 * MiB));
  t.equal(first.piece?.length, 3 * MiB, 'a chunk that fits is taken whole');
  t.equal(first.rest.length, 0);
  t.equal(cutter.full, false, '3 of 5 MiB: not full');
  t.equal(cutter.received, 3 * MiB);

  const second = cutter.take(body.subarray(3 * MiB));
  t.equal(second.piece?.length, 2 * MiB, 'only what fits the part is taken');
  t.equal(second.rest.length, 1 * MiB, 'the rest is handed back');
  t.equal(second.rest.byteOffset, body.byteOffset + 5 * MiB, 'the rest starts right after the piece');
  t.equal(cutter.full, true);
  t.equal(cutter.received, 5 * MiB);

  const part = cutter.next();
  t.equal(part.number, 1);
  t.equal(part.start, 0);
  t.equal(part.length, 5 * MiB);
  t.equal(part.whole, false);
  t.equal(part.pieces.length, 2);
  t.ok(bytesOf(part).equals(body.subarray(0, 5 * MiB)), 'part 1 holds bytes 0..5 MiB in order');

  t.same(shape(cutter.current), { number: 2, start: 5 * MiB, length: 5 * MiB, pieces: [], whole: false }, 'part 2 starts at 5 MiB, empty');
  t.equal(cutter.full, false);
  const third = cutter.take(second.rest);
  t.equal(third.piece?.length, 1 * MiB);
  t.equal(third.rest.length, 0);
  t.equal(cutter.current.pieces.length, 1);
  t.equal(cutter.received, 6 * MiB);
  const end = cutter.end();
  t.equal(end.kind, 'tail');
  t.equal(end.kind !== 'nothing' && end.part.number, 2);
  t.equal(end.kind !== 'nothing' && end.part.start, 5 * MiB);
  t.equal(end.kind !== 'nothing' && end.part.length, 1 * MiB);
  t.ok(end.kind !== 'nothing' && bytesOf(end.part).equals(body.subarray(5 * MiB)), 'the tail holds the last MiB');
});

t.test('current and willFill: whether the announced body fills the part (so it can be streamed)', async (t) => {
  const announced16 = new PartCutter(options({ size: 100 * MiB, expectedBytes: 16 * MiB }));
  t.equal(announced16.willFill, true, '16 MiB announced fill a 5 MiB part');
  t.equal(announced16.current.length, 5 * MiB);

  const announced3 = new PartCutter(options({ size: 100 * MiB, expectedBytes: 3 * MiB }));
  t.equal(announced3.current.length, 5 * MiB, 'too little for a part of its own: the nominal size');
  t.equal(announced3.willFill, false, '3 MiB announced cannot fill 5 MiB');

  const unknown = new PartCutter(options({ size: 100 * MiB, expectedBytes: undefined }));
  t.equal(unknown.willFill, false, 'no Content-Length: never known to fill');

  // With a 2 MiB tail and 3 MiB announced, the tail and the body exactly fill 5 MiB.
  const withTail = new PartCutter(options({ size: 100 * MiB, expectedBytes: 3 * MiB }), pattern(2 * MiB));
  t.equal(withTail.current.length, 5 * MiB);
  t.equal(withTail.willFill, true, 'tail + announced body = the part');
  const shortTail = new PartCutter(options({ size: 100 * MiB, expectedBytes: 3 * MiB - 1 }), pattern(2 * MiB));
  t.equal(shortTail.willFill, false, 'one byte short: not filled');

  // willFill follows the bytes still to come: after 10 of 16 MiB, part 3 (6 MiB) is filled by the rest.
  const body = pattern(10 * MiB);
  feed(announced16, body);
  t.equal(announced16.current.number, 3);
  t.equal(announced16.current.start, 10 * MiB);
  t.equal(announced16.current.length, 6 * MiB);
  t.equal(announced16.willFill, true);

  const upTo = new PartCutter(options({ size: 8 * MiB, expectedBytes: 8 * MiB, plan: knownPlan(8 * MiB) }));
  t.equal(upTo.current.length, 8 * MiB, 'an 8 MiB upload sent at once: one 8 MiB part');
  t.equal(upTo.willFill, true);
});

t.test('16 MiB on a 5 MiB known-length plan: parts of 5, 5 and 6 MiB (the last takes the rest), nothing left', async (t) => {
  const plan = knownPlan(100 * MiB);
  t.same(plan, { base: 5 * MiB, tiered: false });
  const body = pattern(16 * MiB);
  const cutter = new PartCutter(options({ plan, size: 100 * MiB, expectedBytes: 16 * MiB }));
  const { parts, end, pieces } = feed(cutter, body);
  t.same(lengths(parts), [5 * MiB, 5 * MiB, 6 * MiB]);
  t.same(
    parts.map((p) => [p.number, p.start]),
    [
      [1, 0],
      [2, 5 * MiB],
      [3, 10 * MiB],
    ],
  );
  t.ok(Buffer.concat(parts.map(bytesOf)).equals(body), 'the parts hold the body in order');
  t.same(endShape(end), { kind: 'nothing' });
  t.equal(cutter.received, 16 * MiB);
  t.equal(cutter.tooLarge, false);
  for (const piece of pieces) t.ok(piece.buffer === body.buffer, 'pieces are views of the body, never copies');
  t.equal(
    pieces.every((p) => p.byteOffset >= body.byteOffset && p.byteOffset + p.length <= body.byteOffset + body.length),
    true,
  );
  // Same choice as the plan function itself.
  t.equal(
    choosePartLength(plan, { partNumber: 3, start: 10 * MiB, size: 100 * MiB, available: 6 * MiB, equalParts: false, maxUploadSize: 0 }),
    6 * MiB,
  );
});

t.test('7 MiB: announced, one 7 MiB part; not announced, a 5 MiB part and a 2 MiB tail numbered 2', async (t) => {
  const body = pattern(7 * MiB);
  const announced = feed(new PartCutter(options({ size: 100 * MiB, expectedBytes: 7 * MiB })), body);
  t.same(lengths(announced.parts), [7 * MiB], 'a part may take the rest of the request (5 MiB to 2 nominal parts)');
  t.same(endShape(announced.end), { kind: 'nothing' });

  const cutter = new PartCutter(options({ size: 100 * MiB, expectedBytes: undefined }));
  const { parts, end } = feed(cutter, body);
  t.same(lengths(parts), [5 * MiB]);
  t.equal(end.kind, 'tail');
  if (end.kind !== 'tail') return;
  t.equal(end.part.number, 2);
  t.equal(end.part.start, 5 * MiB);
  t.equal(end.part.length, 2 * MiB);
  t.equal(end.part.whole, false);
  t.ok(bytesOf(end.part).equals(body.subarray(5 * MiB)));
});

t.test('a tail given to the constructor is the first piece of the first part', async (t) => {
  const tail = pattern(2 * MiB, 7);
  const body = pattern(3 * MiB, 99);
  const cutter = new PartCutter(options({ size: 100 * MiB, firstPart: 4, start: 15 * MiB, expectedBytes: 3 * MiB }), tail);
  t.equal(cutter.current.pieces.length, 1);
  t.ok(cutter.current.pieces[0] === tail, 'the tail itself, not a copy');
  t.equal(cutter.received, 0, 'the tail is not body bytes');
  const { parts, end, pieces } = feed(cutter, body);
  t.same(lengths(parts), [5 * MiB]);
  t.equal(parts[0]!.number, 4);
  t.equal(parts[0]!.start, 15 * MiB, 'the part starts where the tail starts');
  t.ok(parts[0]!.pieces[0] === tail);
  t.ok(bytesOf(parts[0]!).equals(Buffer.concat([tail, body])), 'tail bytes first, then the body');
  t.equal(cutter.received, 3 * MiB);
  t.same(endShape(end), { kind: 'nothing' });
  t.equal(pieces.length, 3, 'three 1 MiB pieces of the body');

  // A tail and a short body stay a tail (tail + body), numbered as the part they start.
  const small = new PartCutter(options({ size: 100 * MiB, firstPart: 4, start: 15 * MiB, expectedBytes: 1 * MiB }), tail);
  const again = feed(small, body.subarray(0, 1 * MiB));
  t.equal(again.parts.length, 0);
  t.equal(again.end.kind, 'tail');
  if (again.end.kind === 'tail') {
    t.equal(again.end.part.number, 4);
    t.equal(again.end.part.start, 15 * MiB);
    t.ok(bytesOf(again.end.part).equals(Buffer.concat([tail, body.subarray(0, 1 * MiB)])));
  }

  const empty = new PartCutter(options({ size: 100 * MiB, expectedBytes: 1 }), Buffer.alloc(0));
  t.equal(empty.current.pieces.length, 0, 'an empty tail is no piece');
});

t.test("end(): 'last' when the upload's length is reached", async (t) => {
  const size = 12 * MiB;
  const body = pattern(size);
  const cutter = new PartCutter(options({ size, plan: knownPlan(size), expectedBytes: undefined }));
  const { parts, end } = feed(cutter, body);
  t.same(lengths(parts), [5 * MiB, 5 * MiB, 2 * MiB], 'the last part is shorter: the upload ends 2 MiB after part 2');
  t.same(
    endShape(end),
    { kind: 'last', part: { number: 4, start: 12 * MiB, length: 0, pieces: [], whole: false } },
    'nothing held: complete',
  );
  t.ok(Buffer.concat(parts.map(bytesOf)).equals(body));
  t.ok(cutter.take(pattern(1)).piece === undefined, 'no byte past the length');
  t.equal(cutter.tooLarge, true);

  // Deferred length just declared, all bytes already in parts: a last part of 0 bytes.
  const declared = new PartCutter(
    options({
      size: 10 * MiB,
      plan: planParts({ size: undefined, preferred: 5 * MiB, equalParts: false, maxUploadSize: 0 }),
      firstPart: 3,
      start: 10 * MiB,
      expectedBytes: 0,
    }),
  );
  t.equal(declared.current.length, 0, 'nothing left of the upload');
  t.equal(declared.full, false, 'an empty part is never full');
  t.equal(declared.willFill, false);
  t.same(endShape(declared.end()), { kind: 'last', part: { number: 3, start: 10 * MiB, length: 0, pieces: [], whole: false } });

  // The same with a tail making the upload's last bytes.
  const tail = pattern(1 * MiB);
  const lastTail = new PartCutter(options({ size: 11 * MiB, firstPart: 3, start: 10 * MiB, expectedBytes: 0 }), tail);
  const e = lastTail.end();
  t.equal(e.kind, 'last');
  t.equal(e.kind === 'last' && e.part.length, 1 * MiB);
  t.ok(e.kind === 'last' && e.part.pieces[0] === tail);

  // Deferred and still undeclared: the same bytes are a tail, not the last part.
  const deferred = () =>
    options({
      size: undefined,
      plan: planParts({ size: undefined, preferred: 5 * MiB, equalParts: false, maxUploadSize: 0 }),
      firstPart: 3,
      start: 10 * MiB,
      expectedBytes: 0,
    });
  const undeclared = new PartCutter(deferred(), tail);
  t.equal(undeclared.end().kind, 'tail');
  const nothing = new PartCutter(deferred());
  t.same(endShape(nothing.end()), { kind: 'nothing' });
});

t.test("end(): 'part' when a body that ended early leaves a valid part of its own", async (t) => {
  const body = pattern(16 * MiB);
  // 16 MiB announced, only 15.5 MiB arrive: part 3 was to be 6 MiB, the 5.5 MiB held make a part.
  const cutter = new PartCutter(options({ size: 100 * MiB, expectedBytes: 16 * MiB }));
  const { parts, end } = feed(cutter, body.subarray(0, 15 * MiB + MiB / 2));
  t.same(lengths(parts), [5 * MiB, 5 * MiB]);
  t.equal(end.kind, 'part');
  if (end.kind === 'part') {
    t.equal(end.part.number, 3);
    t.equal(end.part.start, 10 * MiB);
    t.equal(end.part.length, 5 * MiB + MiB / 2);
    t.equal(end.part.whole, false);
    t.ok(bytesOf(end.part).equals(body.subarray(10 * MiB, 15 * MiB + MiB / 2)));
  }
  // Only 14 MiB arrive: 4 MiB held, below a part: the tail.
  const short = feed(new PartCutter(options({ size: 100 * MiB, expectedBytes: 16 * MiB })), body.subarray(0, 14 * MiB));
  t.equal(short.end.kind, 'tail');
  t.equal(short.end.kind === 'tail' && short.end.part.length, 4 * MiB);
});

t.test('equal parts (R2) never take the rest of the request', async (t) => {
  const plan = planParts({ size: 100 * MiB, preferred: 5 * MiB, equalParts: true, maxUploadSize: 0 });
  const body = pattern(16 * MiB);
  const { parts, end } = feed(new PartCutter(options({ plan, size: 100 * MiB, equalParts: true, expectedBytes: 16 * MiB })), body);
  t.same(lengths(parts), [5 * MiB, 5 * MiB, 5 * MiB]);
  t.equal(end.kind, 'tail', 'the last MiB waits as the tail');
  t.equal(end.kind === 'tail' && end.part.length, 1 * MiB);
  t.equal(end.kind === 'tail' && end.part.number, 4);

  const seven = feed(
    new PartCutter(options({ plan, size: 100 * MiB, equalParts: true, expectedBytes: 7 * MiB })),
    body.subarray(0, 7 * MiB),
  );
  t.same(lengths(seven.parts), [5 * MiB], 'not the 7 MiB part the unequal plan makes');
  t.equal(seven.end.kind === 'tail' && seven.end.part.length, 2 * MiB);

  // The last part of the upload may still be shorter.
  const end12 = feed(
    new PartCutter(
      options({
        plan: planParts({ size: 12 * MiB, preferred: 5 * MiB, equalParts: true, maxUploadSize: 0 }),
        size: 12 * MiB,
        equalParts: true,
        expectedBytes: 12 * MiB,
      }),
    ),
    pattern(12 * MiB),
  );
  t.same(lengths(end12.parts), [5 * MiB, 5 * MiB, 2 * MiB]);
  t.equal(end12.end.kind, 'last');
  t.equal(end12.end.kind === 'last' && end12.end.part.length, 0);
});

t.test('stored parts: a stored number gets exactly its size; no part takes the rest while stored parts follow', async (t) => {
  // Issue 10, bug 2: a 16 MiB request stored parts 1 and 3 (6 MiB, bytes 10..16 MiB) while part 2
  // failed. The client resends from 5 MiB: its parts must line up with the stored part 3.
  const body = pattern(16 * MiB, 3);
  const stored = new Map([[3, 6 * MiB]]);
  const retry = new PartCutter(options({ size: 100 * MiB, firstPart: 2, start: 5 * MiB, expectedBytes: 16 * MiB, stored }));
  t.equal(retry.current.length, 5 * MiB, 'part 2: nominal (a stored part follows)');
  const { parts, end } = feed(retry, body);
  t.same(
    parts.map((p) => [p.number, p.start, p.length]),
    [
      [2, 5 * MiB, 5 * MiB],
      [3, 10 * MiB, 6 * MiB],
      [4, 16 * MiB, 5 * MiB],
    ],
    'part 3 is again 6 MiB at 10 MiB: the stored part 3 holds the same bytes',
  );
  t.same(endShape(end), { kind: 'nothing' });
  // Without the stored part the same request cuts 5, 5, 6: part 3 would hold bytes 10..15 MiB.
  const fresh = feed(new PartCutter(options({ size: 100 * MiB, firstPart: 2, start: 5 * MiB, expectedBytes: 16 * MiB })), body);
  t.same(lengths(fresh.parts), [5 * MiB, 5 * MiB, 6 * MiB]);

  // A stored part later than the request's end: the last part must not take the rest (7 MiB),
  // or the offset counted from contiguous parts would put stored part 4 at the wrong place.
  const later = new Map([[4, 5 * MiB]]);
  const seven = new PartCutter(options({ size: 100 * MiB, firstPart: 2, start: 5 * MiB, expectedBytes: 7 * MiB, stored: later }));
  t.equal(seven.current.length, 5 * MiB, 'nominal, not the 7 MiB rest');
  const cut = feed(seven, body.subarray(0, 7 * MiB));
  t.same(lengths(cut.parts), [5 * MiB]);
  t.equal(cut.end.kind, 'tail');
  t.equal(cut.end.kind === 'tail' && cut.end.part.number, 3);
  t.equal(cut.end.kind === 'tail' && cut.end.part.length, 2 * MiB);
  // Past the highest stored part, taking the rest is allowed again.
  const past = new PartCutter(options({ size: 100 * MiB, firstPart: 5, start: 25 * MiB, expectedBytes: 7 * MiB, stored: later }));
  t.equal(past.current.length, 7 * MiB);

  // A stored part of 8 MiB where the plan would pick 5: the replacement is 8 MiB too.
  const big = new PartCutter(
    options({ size: 100 * MiB, firstPart: 2, start: 5 * MiB, expectedBytes: undefined, stored: new Map([[2, 8 * MiB]]) }),
  );
  t.equal(big.current.length, 8 * MiB);
  const bigParts = feed(big, body.subarray(0, 9 * MiB));
  t.same(lengths(bigParts.parts), [8 * MiB]);
  t.equal(bigParts.end.kind === 'tail' && bigParts.end.part.length, 1 * MiB);

  // An early end leaving fewer bytes than a stored part's size keeps them as the tail, not as a short part.
  const early = feed(
    new PartCutter(options({ size: 100 * MiB, firstPart: 3, start: 10 * MiB, expectedBytes: 6 * MiB, stored })),
    body.subarray(0, 5 * MiB + MiB / 2),
  );
  t.equal(early.parts.length, 0);
  t.equal(early.end.kind, 'tail', '5.5 of the 6 MiB the stored part 3 holds: not a part');
});

t.test('tooLarge: nothing more is taken once maxBytes body bytes were taken', async (t) => {
  const body = pattern(4 * MiB);
  const cutter = new PartCutter(options({ size: 100 * MiB, expectedBytes: undefined, maxBytes: 3 * MiB + 5 }));
  const first = cutter.take(body);
  t.equal(first.piece?.length, 3 * MiB + 5, 'up to maxBytes');
  t.equal(first.rest.length, 1 * MiB - 5);
  t.equal(cutter.tooLarge, false, 'exactly maxBytes is not too large');
  t.equal(cutter.received, 3 * MiB + 5);
  const second = cutter.take(first.rest);
  t.ok(second.piece === undefined, 'nothing taken');
  t.ok(second.rest === first.rest, 'the chunk is handed back untouched');
  t.equal(cutter.tooLarge, true);
  t.equal(cutter.received, 3 * MiB + 5);
  t.equal(cutter.current.pieces.length, 1);
  const end = cutter.end();
  t.equal(end.kind, 'tail', 'what fitted is kept');
  t.equal(end.kind === 'tail' && end.part.length, 3 * MiB + 5);

  // maxBytes counts body bytes only: a tail does not use it up.
  const withTail = new PartCutter(options({ size: 100 * MiB, expectedBytes: undefined, maxBytes: 1 * MiB }), pattern(3 * MiB));
  const taken = withTail.take(body);
  t.equal(taken.piece?.length, 1 * MiB);
  t.equal(withTail.tooLarge, false);

  // Past the upload's length: the bytes after its end are too much.
  const ending = new PartCutter(options({ size: 2 * MiB, plan: knownPlan(2 * MiB), expectedBytes: undefined }));
  const fill = ending.take(body);
  t.equal(fill.piece?.length, 2 * MiB);
  t.equal(ending.full, true);
  const last = ending.next();
  t.equal(last.length, 2 * MiB);
  t.ok(ending.take(fill.rest).piece === undefined);
  t.equal(ending.tooLarge, true);
});

t.test('whole: only part 1 of a known-length upload sent in one part, when it can still be one PutObject', async (t) => {
  const size = 3 * MiB;
  const body = pattern(size);
  const whole = new PartCutter(options({ size, plan: knownPlan(size), expectedBytes: size, canBeWhole: true }));
  t.equal(whole.current.whole, true, 'announced: known from the start');
  const fed = feed(whole, body);
  t.equal(fed.parts.length, 1);
  t.equal(fed.parts[0]!.whole, true);
  t.equal(fed.parts[0]!.length, size);
  t.equal(fed.end.kind, 'last', 'then the upload is at its length, with nothing held');
  t.equal(fed.end.kind === 'last' && fed.end.part.length, 0);
  t.equal(fed.end.kind === 'last' && fed.end.part.whole, false, 'an empty last part (number 2) is not the whole upload');

  const eight = feed(
    new PartCutter(options({ size: 8 * MiB, plan: knownPlan(8 * MiB), expectedBytes: 8 * MiB, canBeWhole: true })),
    pattern(8 * MiB),
  );
  t.same(
    eight.parts.map((p) => [p.length, p.whole]),
    [[8 * MiB, true]],
  );

  // Not announced: the upload's bytes end up held at the end, as its whole last part.
  const unannounced = feed(new PartCutter(options({ size, plan: knownPlan(size), expectedBytes: undefined, canBeWhole: true })), body);
  t.equal(unannounced.parts.length, 1, 'the 3 MiB part is full at the upload length');
  t.equal(unannounced.parts[0]!.whole, true);

  const early = new PartCutter(options({ size: 4 * MiB, plan: knownPlan(4 * MiB), expectedBytes: undefined, canBeWhole: true }));
  early.take(body.subarray(0, 1 * MiB));
  t.equal(early.end().kind, 'tail', 'a whole upload that ended early: only a tail');
  t.equal((early.end() as { part: CutPart }).part.whole, false);

  t.equal(
    new PartCutter(options({ size, plan: knownPlan(size), expectedBytes: size, canBeWhole: false })).current.whole,
    false,
    'a multipart upload exists',
  );
  t.equal(
    new PartCutter(
      options({
        size: undefined,
        plan: planParts({ size: undefined, preferred: 5 * MiB, equalParts: false, maxUploadSize: 0 }),
        expectedBytes: size,
        canBeWhole: true,
      }),
    ).current.whole,
    false,
    'deferred length',
  );
  const split = feed(
    new PartCutter(options({ size: 12 * MiB, plan: knownPlan(12 * MiB), expectedBytes: 12 * MiB, canBeWhole: true })),
    pattern(12 * MiB),
  );
  t.same(
    split.parts.map((p) => [p.number, p.length, p.whole]),
    [
      [1, 5 * MiB, false],
      [2, 7 * MiB, false],
    ],
    '12 MiB in two parts: neither is whole',
  );
  t.equal(split.end.kind, 'last');
  t.equal(split.end.kind === 'last' && split.end.part.whole, false);
  const second = new PartCutter(options({ size, plan: knownPlan(size), firstPart: 2, start: 0, expectedBytes: size, canBeWhole: true }));
  t.equal(second.current.length, size);
  t.equal(second.current.whole, false, 'only part 1 can be the whole upload');
  // A tail plus the rest of the body make the whole upload in one part.
  const tail = pattern(1 * MiB);
  const withTail = new PartCutter(options({ size, plan: knownPlan(size), expectedBytes: 2 * MiB, canBeWhole: true }), tail);
  t.equal(withTail.current.whole, true);
  t.equal(withTail.current.length, size);
});

t.test('pieces are views of the input buffers, never copies', async (t) => {
  const input = pattern(12 * MiB);
  const cutter = new PartCutter(options({ size: 100 * MiB, expectedBytes: 12 * MiB }));
  const first = cutter.take(input);
  t.ok(first.piece);
  t.ok(first.piece!.buffer === input.buffer);
  t.equal(first.piece!.byteOffset, input.byteOffset);
  t.ok(first.rest.buffer === input.buffer);
  input[0] = input[0]! ^ 0xff;
  t.equal(cutter.current.pieces[0]![0], input[0], 'a change to the input shows in the part: shared memory');
  cutter.next();
  const second = cutter.take(first.rest);
  t.ok(second.piece!.buffer === input.buffer);
  t.equal(second.piece!.byteOffset, input.byteOffset + 5 * MiB);
  // A chunk that fits whole is the very chunk.
  const small = pattern(1000);
  const c2 = new PartCutter(options({ size: 100 * MiB }));
  t.ok(c2.take(small).piece === small);
});
