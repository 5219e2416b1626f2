/** PART_MEMORY as a byte budget (src/stores/s3/part-memory.ts) and small-piece merging (src/stores/coalesce.ts). */
import t from 'tap';
import { coalesce } from '../../src/stores/coalesce.js';
import { PartMemory, Reservation } from '../../src/stores/part-memory.js';
import { KiB } from '../helpers/sizes.js';

/** Whether `p` has settled after the queued microtasks and one macrotask ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

t.test('take waits in line once the budget is spent; give serves the line in order', async (t) => {
  const memory = new PartMemory(10);
  t.equal(await memory.take(6), 6);
  t.equal(memory.held, 6);
  const second = memory.take(6);
  const third = memory.take(1);
  t.notOk(await settled(second), 'six more do not fit in the four left');
  t.notOk(await settled(third), 'a small request does not jump the line (the large one would starve)');
  t.equal(memory.waiting, 2);
  memory.give(6);
  t.equal(await second, 6);
  t.equal(await third, 1);
  t.equal(memory.held, 7);
  t.equal(memory.waiting, 0);
});

t.test('a part larger than the whole budget reserves all of it and runs alone', async (t) => {
  const memory = new PartMemory(10);
  await memory.take(3);
  const huge = memory.take(25);
  t.notOk(await settled(huge), 'it waits for every other part to give back');
  memory.give(3);
  t.equal(await huge, 10, 'reserved: the whole budget');
  t.equal(memory.held, 10);
  memory.give(10);
  t.equal(memory.held, 0);
});

t.test('a Reservation covers a part, hands it off to the dispatched part, and releases what is left', async (t) => {
  const memory = new PartMemory(100);
  const r = new Reservation(memory);
  await r.cover(30);
  await r.cover(20);
  t.equal(memory.held, 30, 'covering less than held takes nothing more');
  await r.cover(45);
  t.equal(memory.held, 45, 'grown to the part length');
  const handed = r.handOff();
  t.equal(handed, 45);
  await r.cover(10);
  t.equal(memory.held, 55, 'the next part is reserved apart from the handed-off one');
  r.release();
  t.equal(memory.held, 45, 'release gives back only what the request still holds');
  memory.give(handed);
  t.equal(memory.held, 0);
});

async function* from(pieces: Buffer[], failAfter?: Error): AsyncGenerator<Buffer> {
  for (const p of pieces) yield p;
  if (failAfter) throw failAfter;
}

async function collect(source: AsyncIterable<Buffer>): Promise<{ sizes: number[]; bytes: Buffer; error?: unknown }> {
  const got: Buffer[] = [];
  try {
    for await (const p of source) got.push(p);
  } catch (error) {
    return { sizes: got.map((b) => b.length), bytes: Buffer.concat(got), error };
  }
  return { sizes: got.map((b) => b.length), bytes: Buffer.concat(got) };
}

t.test('coalesce merges small pieces to 256 KiB, passes large ones uncopied, keeps the order', async (t) => {
  const small = Array.from({ length: 40 }, (_, i) => Buffer.alloc(16 * KiB, i));
  const large = Buffer.alloc(1024 * KiB, 0xee);
  const pieces = [...small, large, Buffer.from('end')];
  const out = await collect(coalesce(from(pieces)));
  t.same(out.sizes, [256 * KiB, 256 * KiB, 8 * 16 * KiB, 1024 * KiB, 3]);
  t.ok(out.bytes.equals(Buffer.concat(pieces)), 'the same bytes in the same order');
  let passed: Buffer | undefined;
  for await (const p of coalesce(from([large]))) passed = p;
  t.equal(passed, large, 'a large piece is the same Buffer, not a copy');
});

t.test('coalesce gives the bytes merged so far before the error of a body that broke off', async (t) => {
  const cut = new Error('aborted');
  const pieces = [Buffer.alloc(1000, 1), Buffer.alloc(2000, 2)];
  const out = await collect(coalesce(from(pieces, cut)));
  t.same(out.sizes, [3000], 'the 3000 bytes that arrived');
  t.equal(out.error, cut, 'then the error');
});

t.test('a consumer that stops early ends the source too', async (t) => {
  let finished = false;
  async function* source(): AsyncGenerator<Buffer> {
    try {
      for (;;) yield Buffer.alloc(128 * KiB);
    } finally {
      finished = true;
    }
  }
  for await (const p of coalesce(source())) {
    t.equal(p.length, 128 * KiB);
    break;
  }
  t.ok(finished, "the source's finally ran (its listeners are removed)");
});
