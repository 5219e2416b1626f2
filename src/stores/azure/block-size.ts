/**
 * Block sizes of an Azure block blob: at most 50,000 blocks, each at most 4000 MiB. A block's
 * size is a function of its index alone (the plan), so the offset is read back from the staged
 * blocks whichever request staged each, and a client cannot exhaust the blocks with small
 * PATCHes: bytes that do not fill a block wait in the tail blob.
 *
 * A known length uses one size (the preferred chunk size, grown until the length fits 50,000
 * blocks). A deferred length cannot know how far it goes: its blocks double in size every 2,500 (up to 4000 MiB),
 * which keeps small uploads on small blocks and still reaches the limit (the largest blob, or the
 * location's largest upload, else 100 TiB) within 50,000.
 */
export const MiB = 1024 * 1024;
/** The smallest STORAGE_<LOC>_TUS__CHUNK_SIZE: smaller blocks would only multiply requests. */
export const MIN_BLOCK_SIZE = MiB;
export const MAX_BLOCK_SIZE = 4000 * MiB;
export const MAX_BLOCKS = 50_000;
export const MAX_BLOB_SIZE = MAX_BLOCKS * MAX_BLOCK_SIZE;
const TIER = 2500;
/** The longest deferred-length upload without a location limit (50,000 blocks of 4000 MiB only hold more if all are full size). */
export const DEFERRED_LIMIT = 100 * 1024 * 1024 * MiB;

export interface BlockPlan {
  /** Size of block 0 (and of every block when not tiered). */
  readonly base: number;
  /** Sizes double every 2,500 blocks (deferred length). */
  readonly tiered: boolean;
}

const roundUpToMiB = (n: number) => Math.ceil(n / MiB) * MiB;

/** The size of block `index` (0-based) when it is not the upload's last. */
export function nominalBlockSize(plan: BlockPlan, index: number): number {
  if (!plan.tiered) return plan.base;
  return Math.min(MAX_BLOCK_SIZE, plan.base * 2 ** Math.floor(index / TIER));
}

/** Offset where block `index` starts. */
export function blockStart(plan: BlockPlan, index: number): number {
  if (!plan.tiered) return index * plan.base;
  let start = 0;
  for (let tier = 0; tier * TIER < index; tier++) start += Math.min(TIER, index - tier * TIER) * nominalBlockSize(plan, tier * TIER);
  return start;
}

/** Bytes the 50,000 blocks of the plan hold. */
export function planCapacity(plan: BlockPlan): number {
  return blockStart(plan, MAX_BLOCKS);
}

/** The plan of an upload: `size` its length (undefined: deferred), `limit` the largest upload accepted (0: the largest blob). */
export function planBlocks(size: number | undefined, preferred: number, limit: number): BlockPlan {
  const base = Math.max(MIN_BLOCK_SIZE, Math.min(preferred, MAX_BLOCK_SIZE));
  if (size !== undefined) {
    if (size > MAX_BLOB_SIZE) throw new RangeError(`upload length ${size} exceeds the largest Azure block blob`);
    return { base: Math.min(MAX_BLOCK_SIZE, Math.max(base, roundUpToMiB(size / MAX_BLOCKS))), tiered: false };
  }
  const most = limit > 0 ? Math.min(limit, MAX_BLOB_SIZE) : DEFERRED_LIMIT;
  let plan: BlockPlan = { base, tiered: true };
  while (planCapacity(plan) < most && plan.base < MAX_BLOCK_SIZE) plan = { base: plan.base + MiB, tiered: true };
  return plan;
}

/** The length of block `index` of an upload of `size` bytes (undefined: deferred): nominal, or what is left. */
export function blockLength(plan: BlockPlan, index: number, size: number | undefined): number {
  const nominal = nominalBlockSize(plan, index);
  if (size === undefined) return nominal;
  return Math.max(0, Math.min(nominal, size - blockStart(plan, index)));
}

/** Block ids: equal-length base64 strings (Azure requires it), from the block's index. */
export function blockId(index: number): string {
  return Buffer.from(`tus-block-${String(index).padStart(6, '0')}`).toString('base64');
}

/** The index of a block id this store made, or undefined for any other. */
export function blockIndex(id: string): number | undefined {
  const m = /^tus-block-(\d{6})$/.exec(Buffer.from(id, 'base64').toString('latin1'));
  return m ? Number(m[1]) : undefined;
}
