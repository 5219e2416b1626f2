/** Start the built server (dist/main.js) as its own process, as a user would, and stop it by PID. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { SERVER_NODE_FLAGS } from '../../scripts/runtime.mjs';
import { logDir } from './app.js';

export const MAIN = resolve(import.meta.dirname, '../../dist/main.js');

/** Collect a child's stdout and stderr, and copy them under the test log directory (the secrets check reads them all). */
function capture(child: ChildProcess): () => string {
  let text = '';
  const file = createWriteStream(join(logDir, `process-${process.pid}-${child.pid}.log`));
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (d) => {
      text += d;
      file.write(d);
    });
  }
  child.once('exit', () => file.end());
  return () => text;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  srv.close();
  return port;
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  /** SIGTERM (or the given signal) and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startProcess(
  env: Record<string, string>,
  /**
   * `nodeOptions` replace the server's own flags (scripts/runtime.mjs, what `npm start` passes);
   * `cgroup`: the `cgroup.procs` file of a cgroup the server starts in (test/helpers/memory-cgroup.ts).
   */
  options: { cwd?: string; node?: string; main?: string; nodeOptions?: string[]; cgroup?: string } = {},
): Promise<ServerProcess> {
  const port = await freePort();
  const nodeArgs = options.nodeOptions ?? SERVER_NODE_FLAGS;
  const [command, args] = launch(options.cgroup, options.node ?? process.execPath, [...nodeArgs, options.main ?? MAIN]);
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = capture(child);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${out()}`);
    try {
      await fetch(`${url}/files/`, { method: 'OPTIONS' });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    child,
    url,
    output: out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill(signal);
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

/**
 * The command that runs `node args` as a user would: without the NODE_OPTIONS tap's process
 * tracking adds to every spawn (its loader, source maps kept for every module and --no-warnings:
 * some 20 MiB of heap and a different server from the one deployed), and inside the cgroup whose
 * `cgroup.procs` is given (joined before Node starts, so all its memory counts). `exec` keeps the
 * PID. A test that means to give the server NODE_OPTIONS sets TEST_NODE_OPTIONS in its env.
 */
export function launch(procs: string | undefined, node: string, args: string[]): [string, string[]] {
  const join = procs ? 'echo $$ > "$0" && ' : '';
  const options = 'if [ -n "$TEST_NODE_OPTIONS" ]; then export NODE_OPTIONS="$TEST_NODE_OPTIONS"; else unset NODE_OPTIONS; fi';
  return ['/bin/sh', ['-c', `${join}${options} && exec "$@"`, procs ?? 'sh', node, ...args]];
}

/** Run the server expecting it to refuse to start; returns exit code and output. */
export async function runToExit(
  env: Record<string, string>,
  cwd?: string,
  args: string[] = [],
  cgroup?: string,
): Promise<{ code: number | null; output: string }> {
  const [command, commandArgs] = launch(cgroup, process.execPath, [...SERVER_NODE_FLAGS, MAIN, ...args]);
  const child = spawn(command, commandArgs, {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = capture(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, output: output() };
}
