/** Block plans of the azure store: at most 50,000 blocks of at most 4000 MiB, whatever the length; ids of equal length. */
import t from 'tap';
import {
  blockId,
  blockIndex,
  blockLength,
  blockStart,
  DEFERRED_LIMIT,
  MAX_BLOB_SIZE,
  MAX_BLOCK_SIZE,
  MAX_BLOCKS,
  nominalBlockSize,
  planBlocks,
  planCapacity,
} from '../../src/stores/azure/block-size.js';
import { copyBlockSize } from '../../src/stores/azure/concatenate.js';

const MiB = 1024 * 1024;
const TiB = 1024 * 1024 * MiB;

/** Blocks the upload of `size` bytes takes with its plan. */
function blocksFor(size: number, preferred = 5 * MiB): number {
  const plan = planBlocks(size, preferred, 0);
  let index = 0;
  while (blockLength(plan, index, size) > 0) index += 1;
  return index;
}

t.test('a known length fits 50,000 blocks: the block size grows with it', async (t) => {
  t.equal(planBlocks(100 * MiB, 5 * MiB, 0).base, 5 * MiB, 'small uploads keep the preferred size');
  for (const size of [1 * TiB, 10 * TiB + 12345, MAX_BLOB_SIZE]) {
    const plan = planBlocks(size, 5 * MiB, 0);
    t.ok(plan.base <= MAX_BLOCK_SIZE, `${size}: blocks of at most 4000 MiB`);
    t.ok(Math.ceil(size / plan.base) <= MAX_BLOCKS, `${size}: ${Math.ceil(size / plan.base)} blocks`);
  }
  t.equal(blocksFor(250 * MiB + 1, MiB), 251, 'the last block holds what is left');
  t.throws(() => planBlocks(MAX_BLOB_SIZE + 1, 5 * MiB, 0), RangeError);
});

t.test('a deferred length: blocks grow so the limit fits in 50,000', async (t) => {
  const plan = planBlocks(undefined, 5 * MiB, 0);
  t.equal(plan.base, 5 * MiB, 'small blocks first');
  t.ok(planCapacity(plan) >= DEFERRED_LIMIT, 'the 100 TiB without a location limit fits');
  const limited = planBlocks(undefined, 5 * MiB, 2 * TiB);
  t.ok(planCapacity(limited) >= 2 * TiB);
  t.ok(nominalBlockSize(plan, MAX_BLOCKS - 1) <= MAX_BLOCK_SIZE);
  for (const index of [1, 2499, 2500, 2501, 12_345, MAX_BLOCKS - 1]) {
    t.equal(
      blockStart(plan, index + 1) - blockStart(plan, index),
      nominalBlockSize(plan, index),
      `block ${index} starts where ${index - 1} ends`,
    );
  }
});

t.test('block ids: equal-length base64 from the index, read back', async (t) => {
  const lengths = new Set([0, 1, 9999, MAX_BLOCKS - 1].map((i) => blockId(i).length));
  t.equal(lengths.size, 1, 'every id has the same length');
  t.equal(blockIndex(blockId(4242)), 4242);
  t.equal(blockIndex(Buffer.from('someone-else').toString('base64')), undefined);
});

t.test('concatenation copies in blocks that fit 50,000 whatever the total', async (t) => {
  t.equal(copyBlockSize(10 * MiB, 3), 100 * MiB);
  const total = 100 * TiB;
  const size = copyBlockSize(total, 1000);
  t.ok(Math.ceil(total / size) + 1000 <= MAX_BLOCKS, `${size} bytes per block`);
});
