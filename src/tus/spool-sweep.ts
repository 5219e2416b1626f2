/**
 * Checksum spools left behind by a dead process. A spool is a directory in TUS_TEMP_DIR named
 * `tus-checksum-<host>-<pid>-XXXXXX` (see `spoolPrefix`); the process that made it removes it when
 * the request ends, but a process that is killed (SIGKILL, out of memory, power loss) cannot.
 * At start-up the server removes the spools of this host older than itself whose process is
 * gone: a pid that no longer runs, or its own pid (reused after a restart, as pid 1 in a
 * container). Nothing else in the directory is touched: not other hosts'
 * spools (a shared directory), not live processes' spools, not other programs' files.
 */

import { readdir, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const spoolHost = hostname().replace(/[^A-Za-z0-9.]/g, '_') || 'host';

/** The name prefix of this process's spool directories (mkdtemp adds six characters). */
export function spoolPrefix(): string {
  return `tus-checksum-${spoolHost}-${process.pid}-`;
}

const SPOOL = /^tus-checksum-(.+)-(\d+)-[A-Za-z0-9]{6}$/;

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Remove the spools dead processes of this host left in `tempDir`; returns the names removed. */
export async function sweepSpools(tempDir: string, log?: Log): Promise<string[]> {
  const processStart = Date.now() - process.uptime() * 1000;
  let names: string[];
  try {
    names = await readdir(tempDir);
  } catch (error) {
    log?.warn({ err: error, tempDir }, 'cannot list TUS_TEMP_DIR to remove spools of dead processes');
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = SPOOL.exec(name);
    if (!m || m[1] !== spoolHost) continue;
    const pid = Number(m[2]);
    const path = join(tempDir, name);
    try {
      const info = await stat(path);
      if (!info.isDirectory()) continue;
      const dead = info.mtimeMs < processStart && (pid === process.pid || !running(pid));
      if (!dead) continue;
      await rm(path, { recursive: true, force: true });
      removed.push(name);
    } catch (error) {
      log?.warn({ err: error, path }, 'cannot remove the spool of a dead process');
    }
  }
  if (removed.length > 0) log?.info({ tempDir, removed }, 'removed checksum spools left by dead processes');
  return removed;
}
