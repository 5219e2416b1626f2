import t from 'tap';
import { PartCutter } from '../../src/stores/s3/part-cutter.js';
import {
  capacity,
  MAX_OBJECT_SIZE,
  MAX_PART_SIZE,
  MAX_PARTS,
  MIN_PART_SIZE,
  MiB,
  nominalPartSize,
  type PartPlan,
  planParts,
} from '../../src/stores/s3/part-size.js';

const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

/** A deterministic pseudo-random sequence (mulberry32), so failures can be replayed. */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function checkKnown(t: { fail(message: string): unknown }, size: number, preferred: number, equalParts: boolean) {
  const plan = planParts({ size, preferred, equalParts, maxUploadSize: 0 });
  const parts = Math.max(1, Math.ceil(size / plan.base));
  if (parts > MAX_PARTS || plan.base < MIN_PART_SIZE || plan.base > MAX_PART_SIZE || plan.tiered) {
    t.fail(`size ${size}, preferred ${preferred}: base ${plan.base}, ${parts} parts`);
    return false;
  }
  return true;
}

t.test('known lengths from 0 to 5 TiB fit in 10,000 parts of 5 MiB to 5 GiB', async (t) => {
  const next = rng(42);
  const sizes = [0, 1, MIN_PART_SIZE - 1, MIN_PART_SIZE, MIN_PART_SIZE + 1, 50 * GiB, 50 * GiB + 1, MAX_OBJECT_SIZE - 1, MAX_OBJECT_SIZE];
  for (let k = 0; k <= 42; k++) sizes.push(2 ** k, 2 ** k - 1, 2 ** k + 1);
  for (let i = 0; i < 200_000; i++) sizes.push(Math.floor(next() * MAX_OBJECT_SIZE));
  // Around every multiple of 10,000 MiB, where the part size steps up.
  for (let m = 1; m <= 525; m++) sizes.push(m * MAX_PARTS * MiB - 1, m * MAX_PARTS * MiB, m * MAX_PARTS * MiB + 1);
  let ok = 0;
  for (const size of sizes.filter((s) => s >= 0 && s <= MAX_OBJECT_SIZE)) {
    for (const preferred of [MIN_PART_SIZE, 16 * MiB]) for (const equal of [false, true]) if (checkKnown(t, size, preferred, equal)) ok++;
  }
  t.equal(ok, sizes.filter((s) => s >= 0 && s <= MAX_OBJECT_SIZE).length * 4, `${ok} plans checked`);
  t.equal(
    planParts({ size: 10 * GiB, preferred: MIN_PART_SIZE, equalParts: false, maxUploadSize: 0 }).base,
    MIN_PART_SIZE,
    'small uploads keep the preferred size',
  );
  t.equal(
    planParts({ size: MAX_OBJECT_SIZE, preferred: MIN_PART_SIZE, equalParts: false, maxUploadSize: 0 }).base,
    525 * MiB,
    '5 TiB: 525 MiB parts',
  );
  t.throws(() => planParts({ size: MAX_OBJECT_SIZE + 1, preferred: MIN_PART_SIZE, equalParts: false, maxUploadSize: 0 }), RangeError);
});

t.test('deferred lengths can reach 5 TiB (or the configured maximum) within 10,000 parts', async (t) => {
  for (const preferred of [MIN_PART_SIZE, 8 * MiB, 16 * MiB, 100 * MiB]) {
    for (const maxUploadSize of [0, 10 * GiB, TiB]) {
      for (const equalParts of [false, true]) {
        const plan = planParts({ size: undefined, preferred, equalParts, maxUploadSize });
        const limit = maxUploadSize || MAX_OBJECT_SIZE;
        t.ok(
          capacity(plan) >= limit,
          `preferred ${preferred}, max ${maxUploadSize}, equal ${equalParts}: capacity ${capacity(plan)} >= ${limit}`,
        );
        let valid = true;
        for (let n = 1; n <= MAX_PARTS; n++) {
          const s = nominalPartSize(plan, n);
          if (s < MIN_PART_SIZE || s > MAX_PART_SIZE || (n > 1 && s < nominalPartSize(plan, n - 1))) valid = false;
        }
        t.ok(valid, 'every nominal part within 5 MiB..5 GiB, never shrinking');
        t.equal(plan.tiered, !equalParts);
      }
    }
  }
  const plan = planParts({ size: undefined, preferred: MIN_PART_SIZE, equalParts: false, maxUploadSize: 0 });
  t.equal(nominalPartSize(plan, 1), 6 * MiB, 'first parts stay small: 6 MiB');
  t.ok(nominalPartSize(plan, 1000) === plan.base && nominalPartSize(plan, 1001) === 2 * plan.base, 'doubling every 1,000 parts');
});

/** One shared buffer: the cutter keeps views of the body's pieces, never copies. */
const body = Buffer.allocUnsafeSlow(600 * MiB);

/**
 * Cut requests of the given sizes with the store's own PartCutter, carrying the tail from one
 * request to the next as the store does; returns the part lengths (the last tail as a last part).
 */
function cutRequests(
  plan: PartPlan,
  size: number | undefined,
  requests: Iterable<number>,
  equalParts = false,
  maxUploadSize = 0,
): number[] {
  const parts: number[] = [];
  let start = 0;
  let tail = 0;
  for (const r of requests) {
    const cutter = new PartCutter(
      {
        plan,
        size,
        equalParts,
        maxUploadSize,
        firstPart: parts.length + 1,
        start,
        expectedBytes: r,
        maxBytes: Number.MAX_SAFE_INTEGER,
        canBeWhole: false,
      },
      tail > 0 ? body.subarray(0, tail) : undefined,
    );
    let rest: Buffer = body.subarray(0, r);
    while (rest.length > 0) {
      const taken = cutter.take(rest);
      rest = taken.rest;
      if (cutter.full) {
        const part = cutter.next();
        parts.push(part.length);
        start += part.length;
      } else if (!taken.piece) break;
    }
    const end = cutter.end();
    tail = 0;
    if (end.kind === 'tail') tail = end.part.length;
    else if (end.kind !== 'nothing' && end.part.length > 0) {
      parts.push(end.part.length);
      start += end.part.length;
    }
  }
  if (tail > 0) parts.push(tail);
  return parts;
}

function* chunks(total: number, size: number) {
  for (let sent = 0; sent < total; sent += size) yield Math.min(size, total - sent);
}

t.test('requests of any size: parts stay within the limits, every non-last part at least 5 MiB', async (t) => {
  const cases: Array<[number, number]> = [
    [64 * MiB + 3, 3 * MiB],
    [1 * GiB, 16 * MiB],
    [1 * GiB, 6 * MiB],
    [1 * GiB, 1 * MiB],
    [200 * GiB, 6 * MiB],
    [MAX_OBJECT_SIZE, 6 * MiB],
    [MAX_OBJECT_SIZE, 100 * MiB],
    [MAX_OBJECT_SIZE, 600 * MiB],
  ];
  for (const [size, request] of cases) {
    for (const equal of [false, true]) {
      const plan = planParts({ size, preferred: MIN_PART_SIZE, equalParts: equal, maxUploadSize: 0 });
      const parts = cutRequests(plan, size, chunks(size, request), equal);
      const total = parts.reduce((a, b) => a + b, 0);
      t.equal(total, size, `${size} in ${request}-byte requests (equal ${equal}): every byte in a part`);
      t.ok(parts.length <= MAX_PARTS, `${parts.length} parts`);
      t.ok(
        parts.slice(0, -1).every((p) => p >= MIN_PART_SIZE && p <= MAX_PART_SIZE),
        'non-last parts within 5 MiB..5 GiB',
      );
      if (equal) t.ok(new Set(parts.slice(0, -1)).size <= 1, 'equal parts when asked');
    }
  }
  // Deferred: 5 TiB in 8 MiB requests still fits.
  const plan = planParts({ size: undefined, preferred: MIN_PART_SIZE, equalParts: false, maxUploadSize: 0 });
  const parts = cutRequests(plan, undefined, chunks(MAX_OBJECT_SIZE, 8 * MiB));
  t.ok(parts.length <= MAX_PARTS, `deferred 5 TiB in 8 MiB requests: ${parts.length} parts`);
  t.ok(parts.slice(0, -1).every((p) => p >= MIN_PART_SIZE && p <= MAX_PART_SIZE));
});
