/**
 * Temporary directories and files that a test removes when it ends.
 *
 * tap runs a test's teardowns last registered, first run: make the scratch directory before
 * starting a server that uses it, so that the server is stopped before its directory goes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

/** A new directory under the system temp directory, removed with its content when `t` ends. */
export function scratchDir(t: Test, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A path named `name` in a new scratch directory (the file itself is not created). */
export function scratchFile(t: Test, name: string): string {
  return join(scratchDir(t, 'tus-scratch-'), name);
}
