/**
 * HAProxy in front of several server instances, as docs/deployment.md's "Scaling out" configures it:
 * HTTP mode, round robin (or `balance uri` for sticky routing by upload id), request bodies
 * streamed to the instance as they arrive (no `option http-buffer-request`, no body size
 * limit), long client/server timeouts for slow uploads, a short one for the request headers.
 * Started as a child process in the foreground (`haproxy -f <cfg> -db`) on a free port,
 * stopped by PID.
 *
 * Servers are named s1..sN in the order of `backends`; every answer carries the name in
 * `x-haproxy-server`, and HAProxy's log (one line per request, `requests()`) names it too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis.js';
import { until } from './wait.js';

export interface HaproxyOptions {
  /** The instances: `http://127.0.0.1:1234` or `127.0.0.1:1234`. */
  backends: string[];
  /** `roundrobin` (default) or `uri` (hash of the path, consistent: sticky by upload id), or any HAProxy algorithm. */
  balance?: string;
  /** Health check path (`/readyz`): an instance that fails it gets no requests. Off by default. */
  check?: string | false;
  /** Interval of the health check (default 500ms; the docker configuration uses 2s). */
  checkInterval?: string;
  /** Default 10m: a client or an instance may be silent that long mid-body (slow uplinks, a 423 wait). */
  timeoutClient?: string;
  timeoutServer?: string;
  /** Time to receive the request headers (not the body: request buffering is off). Default 30s. */
  timeoutHttpRequest?: string;
  /** `option http-buffer-request`: only to show what the default (streaming) is worth; never for uploads. */
  bufferRequest?: boolean;
  /** Listen port; a free one by default. */
  port?: number;
}

/** The haproxy.cfg for these options (listening on 127.0.0.1:`port`). */
export function haproxyConfig(options: HaproxyOptions & { port: number }): string {
  const balance = options.balance ?? 'roundrobin';
  const servers = options.backends.map((b, i) => {
    const address = b.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    return `  server s${i + 1} ${address}${options.check ? ' check' : ''}`;
  });
  return [
    'global',
    '  log stdout format raw local0 info',
    '  maxconn 4096',
    '',
    'defaults',
    '  mode http',
    '  log global',
    '  option httplog',
    '  option forwardfor',
    options.bufferRequest ? '  option http-buffer-request' : '  no option http-buffer-request',
    '  timeout connect 5s',
    `  timeout client ${options.timeoutClient ?? '10m'}`,
    `  timeout server ${options.timeoutServer ?? '10m'}`,
    `  timeout http-request ${options.timeoutHttpRequest ?? '30s'}`,
    '  timeout http-keep-alive 60s',
    '  timeout queue 30s',
    '',
    'frontend uploads',
    `  bind 127.0.0.1:${options.port}`,
    '  default_backend instances',
    '',
    'backend instances',
    `  balance ${balance}`,
    ...(balance.startsWith('uri') ? ['  hash-type consistent'] : []),
    ...(options.check
      ? [
          `  option httpchk GET ${options.check}`,
          '  http-check expect status 200',
          `  default-server inter ${options.checkInterval ?? '500ms'} fall 1 rise 1`,
        ]
      : []),
    '  http-response set-header x-haproxy-server %[srv_name]',
    ...servers,
    '',
  ].join('\n');
}

/** The haproxy binary (Debian installs it in /usr/sbin, which is not on every user's PATH). */
export function haproxyBinary(): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/local/sbin'])) {
    if (dir && existsSync(join(dir, 'haproxy'))) return join(dir, 'haproxy');
  }
  throw new Error("haproxy not found: install Debian's haproxy (bash scripts/redis-server.sh install)");
}

export interface LoggedRequest {
  /** s1..sN, or `<NOSRV>` when HAProxy answered itself (no instance available). */
  server: string;
  status: number;
  method: string;
  path: string;
  /** The whole log line. */
  line: string;
}

export interface RunningHaproxy {
  url: string;
  port: number;
  cfgPath: string;
  child: ChildProcess;
  /** HAProxy's output (its request log and warnings). */
  output(): string;
  /** The request log so far, one entry per finished request. */
  requests(): LoggedRequest[];
  /** SIGTERM (or the given signal), wait for the exit, remove the configuration. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** `haproxy -c`: the configuration's check, as text (throws with HAProxy's message when invalid). */
export async function checkHaproxyConfig(cfgPath: string): Promise<string> {
  const child = spawn(haproxyBinary(), ['-c', '-f', cfgPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d) => (text += d));
  child.stderr.on('data', (d) => (text += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`haproxy -c -f ${cfgPath} exited with ${code}:\n${text}`);
  return text;
}

export async function startHaproxy(options: HaproxyOptions): Promise<RunningHaproxy> {
  const port = options.port ?? (await freePort());
  return runHaproxy(haproxyConfig({ ...options, port }), port);
}

/**
 * Run HAProxy with this configuration text (which must listen on 127.0.0.1:`port`): checked
 * with `haproxy -c` first, then started in the foreground; ready once the port accepts.
 */
export async function runHaproxy(config: string, port: number): Promise<RunningHaproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'tus-haproxy-'));
  const cfgPath = join(dir, 'haproxy.cfg');
  writeFileSync(cfgPath, config);
  await checkHaproxyConfig(cfgPath).catch((error) => {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  const child = spawn(haproxyBinary(), ['-f', cfgPath, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const logDir = process.env.TEST_LOG_DIR;
  const file = logDir ? createWriteStream(join(logDir, `haproxy-${process.pid}-${port}.log`)) : undefined;
  let text = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (d) => {
      text += d;
      file?.write(d);
    });
  }
  child.once('exit', () => file?.end());
  await until(
    async () => {
      if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}:\n${text}`);
      return accepts(port);
    },
    `haproxy on port ${port}`,
    10_000,
  ).catch((error: unknown) => {
    // A failed start leaves neither the process nor its directory behind.
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    cfgPath,
    child,
    output: () => text,
    requests: () =>
      text.split('\n').flatMap((line) => {
        // httplog: ... frontend backend/server Tq/Tw/Tc/Tr/Ta status bytes ... "METHOD /path HTTP/1.1"
        const m = / \S+ [^/\s]+\/(\S+) \S+ (\d{3}) .*"(\S+) (\S+) HTTP\/[\d.]+"$/.exec(line);
        return m ? [{ server: m[1] as string, status: Number(m[2]), method: m[3] as string, path: m[4] as string, line }] : [];
      }),
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill(signal);
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
