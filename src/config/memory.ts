/**
 * The container's memory limit applied to the configuration: the part memory of each location
 * that holds parts in memory (S3's STORAGE_<LOC>_PART_MEMORY) and did not set it is sized so
 * that the process stays under the limit (src/runtime/memory-budget.ts); a limit too small to
 * run at all is a configuration problem that names the smallest that works.
 */

import { mib, type PartHolder, partBudget } from '../runtime/memory-budget.js';
import type { MemoryLimit } from '../runtime/memory-limit.js';
import { driverOf } from '../stores/drivers.js';
import { type Env, locationPrefix } from './env.js';
import type { Location, MemoryPlan } from './types.js';

/** What the process knows of its memory when the configuration is read. */
export interface MemoryFacts {
  limit: MemoryLimit;
  /** V8's heap_size_limit. */
  heapLimit: number;
  /** Whether this server sized the heap for the limit (main.ts), or whoever started it did. */
  heapSized: boolean;
}

export function sizeForMemory(
  locations: readonly Location[],
  env: Env,
  facts: MemoryFacts,
  problems: string[],
): { locations: Location[]; memory: MemoryPlan } | undefined {
  const holders: PartHolder[] = [];
  for (const location of locations) {
    const parts = driverOf(location).capabilities.partMemory;
    if (!parts) continue;
    const set = env[`${locationPrefix(location.name)}${parts.variable}`]?.trim();
    holders.push({ name: location.name, chunkSize: parts.chunkSize(location), explicit: set ? parts.of(location) : undefined });
  }
  const budget = partBudget(facts.limit.bytes, facts.heapLimit, holders);
  if (!budget.ok) {
    problems.push(
      `The container's memory limit (${mib(facts.limit.bytes)}, from ${facts.limit.source}) is below the smallest this server runs in: ` +
        `${mib(budget.smallest)} (${budget.reason}). Raise the container's memory limit (Kubernetes: resources.limits.memory) to ` +
        `${mib(budget.smallest)} or more${holders.some((h) => h.explicit !== undefined) ? ', or lower STORAGE_<LOC>_PART_MEMORY' : ''}.`,
    );
    return undefined;
  }
  const sized = locations.map((location) => {
    const parts = driverOf(location).capabilities.partMemory;
    const bytes = budget.partMemory[location.name];
    return parts && bytes !== undefined ? parts.with(location, bytes) : location;
  });
  return {
    locations: sized,
    memory: {
      limit: facts.limit.bytes,
      source: facts.limit.source,
      heapLimit: facts.heapLimit,
      heapSized: facts.heapSized,
      partMemory: budget.partMemory,
      partMemorySet: holders.filter((h) => h.explicit !== undefined).map((h) => h.name),
    },
  };
}
