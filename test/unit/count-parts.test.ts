/** countParts / partsBytes: which parts listed in S3 make the upload's offset, and which are kept aside as stored parts. */
import t from 'tap';
import { MiB } from '../../src/stores/s3/part-size.js';
import { countParts, type Part, partsBytes } from '../../src/stores/s3/upload-state.js';

const part = (PartNumber: number, Size: number): Part => ({ PartNumber, ETag: `"etag-${PartNumber}-${Size}"`, Size });
const numbers = (parts: readonly Part[]) => parts.map((p) => p.PartNumber);
const storedOf = (stored: Map<number, Part>) =>
  [...stored.entries()].map(([n, p]) => [n, p.PartNumber, p.Size]).sort((a, b) => a[0]! - b[0]!);

t.test('partsBytes sums the sizes', async (t) => {
  t.equal(partsBytes([]), 0);
  t.equal(partsBytes([part(1, 5 * MiB)]), 5 * MiB);
  t.equal(partsBytes([part(1, 5 * MiB), part(2, 6 * MiB + 3), part(3, 7)]), 11 * MiB + 10);
});

t.test('a contiguous run from part 1 counts', async (t) => {
  const parts = [part(1, 5 * MiB), part(2, 5 * MiB), part(3, 6 * MiB)];
  const { run, stored } = countParts(parts, undefined);
  t.same(numbers(run), [1, 2, 3]);
  t.equal(run[0], parts[0], 'the listed parts themselves');
  t.equal(partsBytes(run), 16 * MiB);
  t.equal(stored.size, 0);

  t.same(countParts(parts, 100 * MiB).run.length, 3, 'a known length beyond them changes nothing');
  t.same(countParts([], undefined), { run: [], stored: new Map() });
  const noFirst = countParts([part(2, 5 * MiB), part(3, 5 * MiB)], undefined);
  t.same(noFirst.run, [], 'no part 1: nothing counts');
  t.same(
    storedOf(noFirst.stored),
    [
      [2, 2, 5 * MiB],
      [3, 3, 5 * MiB],
    ],
    'both lie beyond the gap at part 1: kept aside',
  );
});

t.test('a gap stops the run; later parts of at least 5 MiB are stored by number, the rest are not', async (t) => {
  const p3 = part(3, 6 * MiB);
  const p5 = part(5, 5 * MiB);
  const { run, stored } = countParts([part(1, 5 * MiB), p3, part(4, 5 * MiB - 1), p5, part(7, 1 * MiB)], undefined);
  t.same(numbers(run), [1], 'part 2 is missing');
  t.same(storedOf(stored), [
    [3, 3, 6 * MiB],
    [5, 5, 5 * MiB],
  ]);
  t.equal(stored.get(3), p3, 'the stored Part itself, found by its number');
  t.equal(stored.get(5), p5);
  t.equal(stored.has(4), false, 'one byte below 5 MiB: some upload last part, nothing lines up behind it');
  t.equal(stored.has(7), false);

  // The part right after the run broke it (too small, not last): it is replaced freely, not stored.
  const broken = countParts([part(1, 5 * MiB), part(2, 3 * MiB), part(3, 5 * MiB), part(4, 8 * MiB)], undefined);
  t.same(numbers(broken.run), [1]);
  t.same(storedOf(broken.stored), [
    [3, 3, 5 * MiB],
    [4, 4, 8 * MiB],
  ]);
  t.equal(broken.stored.has(2), false);

  // Issue 10, bug 2: parts 1 and 3 stored, part 2 failed: only part 1 counts; part 3 is kept aside.
  const bug = countParts([part(1, 5 * MiB), part(3, 6 * MiB)], undefined);
  t.equal(partsBytes(bug.run), 5 * MiB, 'the offset is 5 MiB, not 11');
  t.same(storedOf(bug.stored), [[3, 3, 6 * MiB]]);
});

t.test('a part below 5 MiB ends the run unless it ends exactly at the upload size', async (t) => {
  const parts = [part(1, 5 * MiB), part(2, 2 * MiB)];
  t.same(numbers(countParts(parts, 7 * MiB).run), [1, 2], 'the last part of a 7 MiB upload');
  t.same(numbers(countParts(parts, 8 * MiB).run), [1], 'ends 1 MiB short of the length: not a last part');
  t.same(numbers(countParts(parts, undefined).run), [1], 'deferred length: a small part is never the last');
  t.same(numbers(countParts([part(1, 1)], 1).run), [1], 'a one-byte upload in one part');
  t.same(numbers(countParts([part(1, 0)], 0).run), [1], 'an empty upload completed with an empty part');
  t.same(numbers(countParts([part(1, 1)], 2).run), [], 'part 1 below 5 MiB and short of the length');

  // Nothing after the upload's last part counts.
  const after = countParts([part(1, 5 * MiB), part(2, 2 * MiB), part(3, 5 * MiB), part(4, 5 * MiB)], 7 * MiB);
  t.same(numbers(after.run), [1, 2]);
  t.equal(partsBytes(after.run), 7 * MiB);
  t.equal(after.stored.has(3), false, 'right after the run');
  t.same(storedOf(after.stored), [[4, 4, 5 * MiB]]);

  t.same(
    numbers(countParts([part(1, 5 * MiB), part(2, 2 * MiB), part(3, 0)], 7 * MiB).run),
    [1, 2],
    'the run stops at the last part: not even an empty part follows',
  );
  // A last part of 5 MiB or more ending at the length counts too.
  t.same(numbers(countParts([part(1, 5 * MiB), part(2, 6 * MiB)], 11 * MiB).run), [1, 2]);
});

t.test('a part reaching past the upload size ends the run', async (t) => {
  const { run, stored } = countParts([part(1, 5 * MiB), part(2, 5 * MiB), part(3, 5 * MiB)], 8 * MiB);
  t.same(numbers(run), [1], 'part 2 would end at 10 MiB of an 8 MiB upload');
  t.same(storedOf(stored), [[3, 3, 5 * MiB]]);
  t.same(numbers(countParts([part(1, 5 * MiB)], 5 * MiB - 1).run), [], 'even part 1');
  t.same(numbers(countParts([part(1, 5 * MiB), part(2, 5 * MiB)], 10 * MiB).run), [1, 2], 'exactly at the size: counted');
  t.same(numbers(countParts([part(1, 5 * MiB), part(2, 5 * MiB)], 10 * MiB + 1).run), [1, 2], 'short of the length but 5 MiB: counted');
});

t.test('unsorted input is counted by part number', async (t) => {
  const parts = [part(4, 5 * MiB), part(2, 5 * MiB), part(1, 5 * MiB), part(6, 5 * MiB), part(3, 1 * MiB)];
  const { run, stored } = countParts(parts, 16 * MiB);
  t.same(numbers(run), [1, 2], 'part 3 (1 MiB, not at the length) breaks the run after 1, 2');
  t.same(storedOf(stored), [
    [4, 4, 5 * MiB],
    [6, 6, 5 * MiB],
  ]);
  const whole = countParts([part(3, 6 * MiB), part(1, 5 * MiB), part(2, 5 * MiB)], 16 * MiB);
  t.same(numbers(whole.run), [1, 2, 3]);
  t.equal(partsBytes(whole.run), 16 * MiB);
  t.equal(whole.stored.size, 0);
  // Any iterable will do.
  const set = new Set([part(2, 5 * MiB), part(1, 5 * MiB)]);
  t.same(numbers(countParts(set, undefined).run), [1, 2]);
});
