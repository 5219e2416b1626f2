/**
 * A real memory cgroup for one test: a child of this process's own cgroup with a memory limit,
 * cgroup v1 (`memory.limit_in_bytes`) or v2 (`memory.max`), whichever the machine has mounted
 * writable. A process started inside it (see `startProcess`'s `cgroup`) is OOM-killed past the
 * limit, as in a container.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupPaths } from '../../src/runtime/memory-limit.js';

/** The container memory limit test/solo/memory-cgroup.solo.ts proves, and deploy/kubernetes sets. */
export const CONTAINER_LIMIT_MIB = 160;

export interface MemoryCgroup {
  version: 1 | 2;
  dir: string;
  /** The file a process writes its PID into to join. */
  procs: string;
  limit: number;
  /** OOM kills in the cgroup so far. */
  oomKills(): number;
  /** The most memory the cgroup was charged, where the kernel says. */
  peak(): number | undefined;
  /** What it is charged now, by kind (memory.stat), in MiB: to tell a heap that grew from code pages reclaimed. */
  breakdown(): string;
  /** Removes it (its processes must have exited). */
  remove(): Promise<void>;
}

const read = (path: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};
const counter = (text: string | undefined, name: string) => Number(text?.match(new RegExp(`^${name} (\\d+)$`, 'm'))?.[1] ?? 0);
const number = (text: string | undefined) => (text && /^\d+\s*$/.test(text) ? Number(text) : undefined);

/** A new memory cgroup with `limit` bytes, or why none can be made here. */
export function memoryCgroup(limit: number, name: string): MemoryCgroup | { skip: string } {
  const own = cgroupPaths(read('/proc/self/cgroup'));
  const tried: string[] = [];
  const child = `tus-test-${name}-${process.pid}`;
  if (own.v1 !== undefined && existsSync('/sys/fs/cgroup/memory')) {
    const dir = join('/sys/fs/cgroup/memory', own.v1, child);
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limit));
      return made(1, dir, limit, 'memory.oom_control', 'memory.max_usage_in_bytes');
    } catch (error) {
      tried.push(`cgroup v1 at ${dir}: ${(error as Error).message}`);
    }
  }
  if (own.v2 !== undefined && read('/sys/fs/cgroup/cgroup.controllers')?.includes('memory')) {
    const parent = join('/sys/fs/cgroup', own.v2);
    const dir = join(parent, child);
    try {
      if (!read(join(parent, 'cgroup.subtree_control'))?.includes('memory'))
        writeFileSync(join(parent, 'cgroup.subtree_control'), '+memory');
      mkdirSync(dir);
      writeFileSync(join(dir, 'memory.max'), String(limit));
      return made(2, dir, limit, 'memory.events', 'memory.peak');
    } catch (error) {
      tried.push(`cgroup v2 at ${dir}: ${(error as Error).message}`);
    }
  }
  return {
    skip: `no memory cgroup can be created here (${tried.join('; ') || 'neither cgroup v1 nor v2 has the memory controller mounted'})`,
  };
}

function made(version: 1 | 2, dir: string, limit: number, events: string, peak: string): MemoryCgroup {
  return {
    version,
    dir,
    procs: join(dir, 'cgroup.procs'),
    limit,
    oomKills: () => counter(read(join(dir, events)), 'oom_kill'),
    peak: () => number(read(join(dir, peak))),
    breakdown() {
      const stat = read(join(dir, 'memory.stat'));
      // v1: anonymous (rss), page cache and the part of it mapped (code); v2 adds kernel and socket memory.
      const fields =
        version === 1 ? ['rss', 'cache', 'mapped_file', 'pgmajfault'] : ['anon', 'file', 'file_mapped', 'kernel', 'sock', 'pgmajfault'];
      return fields.map((f) => `${f} ${f === 'pgmajfault' ? counter(stat, f) : (counter(stat, f) / 2 ** 20).toFixed(0)}`).join(', ');
    },
    async remove() {
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          rmdirSync(dir);
          return;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
  };
}
