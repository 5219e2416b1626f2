// Process-tree and directory sampling from /proc, for the benchmark.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const TICK = 100; // clock ticks per second (getconf CLK_TCK)

function stat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / TICK };
  } catch {
    return undefined;
  }
}

function rssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** `pid` and its descendants. */
export function tree(pid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(name);
    if (!s) continue;
    if (!children.has(s.ppid)) children.set(s.ppid, []);
    children.get(s.ppid).push(Number(name));
  }
  const out = [];
  const walk = (p) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

export function cpuSeconds(pids) {
  return pids.reduce((total, p) => total + (stat(p)?.cpu ?? 0), 0);
}

/** read(2) calls of the processes (from /proc/<pid>/io syscr): socket reads included. */
export function readCalls(pids) {
  return pids.reduce((total, p) => {
    try {
      return total + Number(/syscr:\s+(\d+)/.exec(readFileSync(`/proc/${p}/io`, 'utf8'))?.[1] ?? 0);
    } catch {
      return total;
    }
  }, 0);
}

export function rss(pids) {
  return pids.reduce((total, p) => total + rssBytes(p), 0);
}

export function dirBytes(dir) {
  let total = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    try {
      total += e.isDirectory() ? dirBytes(p) : statSync(p).size;
    } catch {}
  }
  return total;
}

/** Sample peak RSS of a process tree and peak bytes of a directory until stopped. */
export function sampler(pid, dir, everyMs = 50) {
  const pids = pid ? tree(pid) : [];
  let peakRss = 0;
  let peakDisk = 0;
  const sample = () => {
    if (pids.length) peakRss = Math.max(peakRss, rss(pids));
    if (dir) peakDisk = Math.max(peakDisk, dirBytes(dir));
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { peakRss, peakDisk };
    },
  };
}
