/**
 * How the server divides a container's memory limit (memory-limit.ts): the V8 heap, the
 * S3 locations' part memory (STORAGE_<LOC>_PART_MEMORY) and what Node and the server hold
 * besides, with a thirty-second of the limit spare. Pure functions: main.ts sizes the heap (Node
 * flags, set when the process starts), serve.ts the part memory.
 *
 * The figures are measured (docs/performance.md, "Memory in a container"): besides its heap
 * and its parts, the server's resident memory under load stays below 72 MiB: about 50 MiB of
 * the Node binary's own pages (its code and ICU data, charged to a container like any memory),
 * about 20 MiB of memory outside V8's heap (libuv, OpenSSL, malloc) and the sockets' and
 * streams' buffers.
 */

const MiB = 1024 * 1024;

/** Resident memory besides the heap and the parts, under load (measured, with room). */
export const OUTSIDE_HEAP = 72 * MiB;
/** Part memory of a location when no limit applies (STORAGE_<LOC>_PART_MEMORY's default). */
export const DEFAULT_PART_MEMORY = 96 * MiB;

export interface HeapPlan {
  /** --max-old-space-size, in MiB. */
  oldSpaceMiB: number;
  /** --max-semi-space-size, in MiB, for small limits (the young generation is otherwise 16 MiB and more). */
  semiSpaceMiB?: number;
}

/**
 * The heap for a limit: a quarter of it, at least 64 MiB. The server holds about 28 MiB of live
 * heap, idle or under 4 concurrent uploads (measured in a 160 MiB cgroup); the floor leaves
 * room for requests that pile up while S3 is slow. (A 48 MiB heap once ran out in that cgroup,
 * but under the test runner's loader, which kept a source map of every module: 18 MiB more.)
 */
export function heapFor(limit: number): HeapPlan {
  const oldSpaceMiB = Math.round(Math.min(4096, Math.max(64, limit / MiB / 4)));
  return limit < 512 * MiB ? { oldSpaceMiB, semiSpaceMiB: 1 } : { oldSpaceMiB };
}

export function heapFlags(plan: HeapPlan): string[] {
  return [`--max-old-space-size=${plan.oldSpaceMiB}`, ...(plan.semiSpaceMiB ? [`--max-semi-space-size=${plan.semiSpaceMiB}`] : [])];
}

/** Node options that size the heap, given by whoever started the process: then they are kept. */
export function heapSetExplicitly(execArgv: readonly string[], nodeOptions = ''): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((a) => /^--max[-_](old|semi)[-_]space[-_]size\b/.test(a));
}

/** A location whose store holds parts in memory. */
export interface PartHolder {
  name: string;
  /** Its part size (STORAGE_<LOC>_TUS__CHUNK_SIZE): two parts are the least it works with. */
  chunkSize: number;
  /** STORAGE_<LOC>_PART_MEMORY when set (kept as it is); undefined: sized here. */
  explicit?: number | undefined;
}

export type PartBudget =
  | { ok: true; partMemory: Record<string, number>; reserve: number; spare: number }
  | { ok: false; smallest: number; reserve: number; reason: string };

/**
 * Part memory for the locations that did not set theirs: what the limit leaves after the heap
 * (`heapLimit`, V8's heap_size_limit), OUTSIDE_HEAP, the parts set explicitly and a thirty-second
 * spare, shared evenly, each at most DEFAULT_PART_MEMORY and at least two parts. A limit too
 * small for that is refused with the smallest that works.
 */
export function partBudget(limit: number, heapLimit: number, holders: readonly PartHolder[]): PartBudget {
  const reserve = OUTSIDE_HEAP + heapLimit;
  const spare = Math.ceil(limit / 32);
  const explicit = holders.reduce((sum, h) => sum + (h.explicit ?? 0), 0);
  const sized = holders.filter((h) => h.explicit === undefined);
  const least = sized.reduce((sum, h) => sum + 2 * h.chunkSize, 0);
  const available = limit - spare - reserve - explicit;
  if (available < least) {
    const smallest = Math.ceil(((reserve + explicit + least) * 32) / 31);
    const parts = [
      ...holders.filter((h) => h.explicit !== undefined).map((h) => `${mib(h.explicit ?? 0)} of parts set for location "${h.name}"`),
      ...sized.map((h) => `two parts of ${mib(h.chunkSize)} for location "${h.name}"`),
    ];
    const reason = `Node and the server ${mib(OUTSIDE_HEAP)} besides a heap of ${mib(heapLimit)}${parts.length ? `, ${parts.join(', ')}` : ''}, and a thirty-second spare`;
    return { ok: false, smallest, reserve, reason };
  }
  const share = sized.length ? Math.floor(available / sized.length) : 0;
  const partMemory: Record<string, number> = {};
  for (const h of holders) {
    partMemory[h.name] = h.explicit ?? Math.max(2 * h.chunkSize, Math.min(DEFAULT_PART_MEMORY, roundDown(share)));
  }
  return { ok: true, partMemory, reserve, spare };
}

/** Whole MiB below `bytes` (a budget reads better, and the parts are MiB-sized anyway). */
const roundDown = (bytes: number) => Math.floor(bytes / MiB) * MiB;

export const mib = (bytes: number) => `${Math.round(bytes / MiB)} MiB`;
