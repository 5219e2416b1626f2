/**
 * The memory this process may use: its container's limit, if it has one. Read from Node
 * (`process.constrainedMemory()`, which libuv takes from the cgroup) and, where that says
 * nothing, from the cgroup files themselves (v2 `memory.max`, v1 `memory.limit_in_bytes`, of
 * the cgroup `/proc/self/cgroup` names, as mounted in a container or on the host). A value at
 * or above the machine's memory is no limit.
 */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';

export interface MemoryLimit {
  bytes: number;
  /** Where it was found, for the start-up log. */
  source: 'constrainedMemory' | 'cgroup v2 memory.max' | 'cgroup v1 memory.limit_in_bytes';
}

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
};

/** A limit that constrains: a positive number below the machine's memory. */
const constraining = (bytes: number | undefined): bytes is number =>
  bytes !== undefined && Number.isFinite(bytes) && bytes > 0 && bytes < totalmem();

/** The cgroup paths in a `/proc/<pid>/cgroup` text: `0::/path` (v2) and `N:memory:/path` (v1). */
export function cgroupPaths(text: string | undefined): { v2?: string; v1?: string } {
  const paths: { v2?: string; v1?: string } = {};
  for (const line of text?.split('\n') ?? []) {
    const [, controllers, path] = line.split(':');
    if (path === undefined) continue;
    if (controllers === '') paths.v2 = path;
    else if (controllers?.split(',').includes('memory')) paths.v1 = path;
  }
  return paths;
}

/** The files to look in, nearest first: the process's own cgroup, then the mount's root (a container's view). */
function candidates(root: string): Array<{ path: string; source: MemoryLimit['source'] }> {
  const { v2, v1 } = cgroupPaths(read('/proc/self/cgroup'));
  const v2Dirs = [...new Set([v2 ? `${root}${v2}` : undefined, root].filter((d): d is string => d !== undefined))];
  const v1Root = `${root}/memory`;
  const v1Dirs = [...new Set([v1 ? `${v1Root}${v1}` : undefined, v1Root].filter((d): d is string => d !== undefined))];
  return [
    ...v2Dirs.map((dir) => ({ path: `${dir}/memory.max`, source: 'cgroup v2 memory.max' as const })),
    ...v1Dirs.map((dir) => ({ path: `${dir}/memory.limit_in_bytes`, source: 'cgroup v1 memory.limit_in_bytes' as const })),
  ];
}

/** `where`: the cgroup mount and Node's own answer, for tests. */
export function containerMemoryLimit(where: { cgroupRoot?: string; fromNode?: number | undefined } = {}): MemoryLimit | undefined {
  const cgroupRoot = where.cgroupRoot ?? '/sys/fs/cgroup';
  const fromNode = 'fromNode' in where ? where.fromNode : process.constrainedMemory?.();
  if (constraining(fromNode)) return { bytes: fromNode, source: 'constrainedMemory' };
  for (const { path, source } of candidates(cgroupRoot)) {
    const value = read(path);
    // v2 writes "max" for none.
    const bytes = value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
    if (constraining(bytes)) return { bytes, source };
  }
  return undefined;
}
