/**
 * Part sizes of an S3 multipart upload: every part but the last at least 5 MiB, at most
 * 5 GiB, at most 10,000 parts, objects up to 5 TiB.
 *
 * A plan has a base size. Known-length uploads use one size (the preferred chunk size,
 * grown until the length fits in 10,000 parts). Deferred-length uploads cannot know how
 * far they will go, so their parts grow: the size doubles every 1,000 parts, which keeps
 * small uploads on small parts and still reaches the limit (5 TiB, or the configured
 * maximum upload size) within 10,000 parts. Providers that need equal parts (Cloudflare
 * R2) get one size big enough for the limit instead.
 */
export const MiB = 1024 * 1024;
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * 1024 * MiB;
export const MAX_PARTS = 10_000;
export const MAX_OBJECT_SIZE = 5 * 1024 * 1024 * MiB;
const TIER = 1000;

export interface PartPlan {
  /** Size of part 1 (and of every part when not tiered). */
  readonly base: number;
  /** Sizes double every 1,000 parts (deferred length without equal parts). */
  readonly tiered: boolean;
}

export interface PlanInput {
  /** Upload length; undefined when deferred. */
  size: number | undefined;
  /** Preferred part size (STORAGE_<LOC>_TUS__CHUNK_SIZE). */
  preferred: number;
  /** Every part but the last the same size. */
  equalParts: boolean;
  /** Largest upload the server accepts (0: the S3 limit). */
  maxUploadSize: number;
}

const roundUpToMiB = (n: number) => Math.ceil(n / MiB) * MiB;

export function nominalPartSize(plan: PartPlan, partNumber: number): number {
  if (!plan.tiered) return plan.base;
  return Math.min(MAX_PART_SIZE, plan.base * 2 ** Math.floor((partNumber - 1) / TIER));
}

/** Bytes parts `from`..10,000 can hold at their nominal sizes. */
export function capacity(plan: PartPlan, from = 1): number {
  if (from > MAX_PARTS) return 0;
  if (!plan.tiered) return (MAX_PARTS - from + 1) * plan.base;
  let total = 0;
  for (let n = from; n <= MAX_PARTS; ) {
    const tierEnd = Math.min(MAX_PARTS, Math.ceil(n / TIER) * TIER);
    total += (tierEnd - n + 1) * nominalPartSize(plan, n);
    n = tierEnd + 1;
  }
  return total;
}

export function planParts({ size, preferred, equalParts, maxUploadSize }: PlanInput): PartPlan {
  const base = Math.max(MIN_PART_SIZE, Math.min(preferred, MAX_PART_SIZE));
  if (size !== undefined) {
    if (size > MAX_OBJECT_SIZE) throw new RangeError(`upload length ${size} exceeds the S3 object limit of 5 TiB`);
    return { base: Math.min(MAX_PART_SIZE, Math.max(base, roundUpToMiB(size / MAX_PARTS))), tiered: false };
  }
  const limit = maxUploadSize > 0 ? Math.min(maxUploadSize, MAX_OBJECT_SIZE) : MAX_OBJECT_SIZE;
  if (equalParts) return { base: Math.min(MAX_PART_SIZE, Math.max(base, roundUpToMiB(limit / MAX_PARTS))), tiered: false };
  let plan: PartPlan = { base, tiered: true };
  while (capacity(plan) < limit) plan = { base: plan.base + MiB, tiered: true };
  return plan;
}

export interface PartChoice {
  /** Part number about to start. */
  partNumber: number;
  /** Upload offset where the part starts. */
  start: number;
  /** Upload length, undefined when deferred. */
  size: number | undefined;
  /** Bytes this request can still supply for the part (buffered tail + rest of body), if known. */
  available: number | undefined;
  equalParts: boolean;
  maxUploadSize: number;
  /**
   * Size of a part with this number already in S3 beyond the upload's contiguous parts (left
   * by a request whose earlier part failed). The new part must hold exactly the same bytes,
   * so that the stored parts after it stay where they claim to be.
   */
  stored?: number | undefined;
  /** Parts with higher numbers are in S3 (left the same way): the part may not take the rest. */
  storedLater?: boolean;
}

/**
 * Length of the part about to start. Normally the nominal size; the upload's end makes a
 * shorter last part; and when the request will end within two nominal parts, the part
 * takes the rest of the request (5 MiB to 5 GiB) so no tail is left over, provided the
 * remaining parts can still hold the rest of the upload. A part that replaces one already
 * stored keeps its size, and no part takes the rest while stored parts follow it: the
 * offset counted from contiguous parts is then right whichever request stored each part.
 */
export function choosePartLength(plan: PartPlan, c: PartChoice): number {
  const nominal = nominalPartSize(plan, c.partNumber);
  const remainingUpload = c.size === undefined ? undefined : c.size - c.start;
  if (c.stored !== undefined && (remainingUpload === undefined || c.stored <= remainingUpload)) return c.stored;
  if (remainingUpload !== undefined && remainingUpload <= nominal) return remainingUpload;
  if (c.equalParts || c.available === undefined || c.storedLater) return nominal;
  const take = Math.min(c.available, remainingUpload ?? Number.MAX_SAFE_INTEGER);
  if (take === remainingUpload && take <= MAX_PART_SIZE && take < 2 * nominal) return take;
  if (take < MIN_PART_SIZE || take >= 2 * nominal || take > MAX_PART_SIZE) return nominal;
  const limit = c.size ?? (c.maxUploadSize > 0 ? Math.min(c.maxUploadSize, MAX_OBJECT_SIZE) : MAX_OBJECT_SIZE);
  const fits = limit - (c.start + take) <= capacity(plan, c.partNumber + 1);
  return fits ? take : nominal;
}
