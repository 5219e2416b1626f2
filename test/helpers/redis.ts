/**
 * Redis for the tests: the shared one `npm test` starts (scripts/redis-server.sh: REDIS_TEST_URL,
 * or .redis-test/env), or a private one per test file (startRedis) that the test may stop and
 * start again on the same port to simulate an outage and its end. Never stop the shared one:
 * other test files use it at the same time.
 *
 * redisCommand/redisCommands speak RESP over a plain socket (no client library, no retries,
 * no reconnection), so a test sees exactly what Redis answered, or the connection error.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { until } from './wait.js';

export interface RedisTarget {
  /** redis://:<password>@127.0.0.1:<port>/<db>, as the server's REDIS setting takes it. */
  url: string;
  host: string;
  port: number;
  /** '' when Redis has none. */
  password: string;
  username: string;
  db: number;
}

export function parseRedisUrl(url: string): RedisTarget {
  const u = new URL(url);
  if (u.protocol !== 'redis:') throw new Error(`not a redis:// URL: ${u.protocol}`);
  return {
    url,
    host: u.hostname,
    port: Number(u.port || 6379),
    username: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    db: Number(u.pathname.slice(1) || 0),
  };
}

const ENV_FILE = resolve(import.meta.dirname, '../../.redis-test/env');

/** The shared test Redis: REDIS_TEST_URL, or the env file scripts/redis-server.sh writes. */
export function redisTestServer(): RedisTarget {
  let url = process.env.REDIS_TEST_URL;
  if (!url && existsSync(ENV_FILE)) url = /^REDIS_TEST_URL=(.*)$/m.exec(readFileSync(ENV_FILE, 'utf8'))?.[1];
  if (!url) {
    throw new Error('No Redis test server: run `npm test` (it starts one), or `bash scripts/redis-server.sh start`, or set REDIS_TEST_URL');
  }
  return parseRedisUrl(url);
}

/** A Redis error reply (`-ERR ...`, `-NOAUTH ...`, `-WRONGPASS ...`). */
export class RedisReplyError extends Error {
  /** The first word: ERR, NOAUTH, WRONGPASS, ... */
  readonly code: string;
  constructor(message: string) {
    super(message);
    this.code = message.split(' ')[0] as string;
  }
}

export type RedisReply = string | number | null | RedisReplyError | RedisReply[];

/** Parse one RESP2 reply at `at`; undefined when the buffer does not hold all of it yet. */
function parseReply(buf: Buffer, at: number): { value: RedisReply; next: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const line = buf.toString('utf8', at + 1, eol);
  switch (String.fromCharCode(buf[at] as number)) {
    case '+':
      return { value: line, next: eol + 2 };
    case '-':
      return { value: new RedisReplyError(line), next: eol + 2 };
    case ':':
      return { value: Number(line), next: eol + 2 };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, next: eol + 2 };
      if (buf.length < eol + 2 + n + 2) return undefined;
      return { value: buf.toString('utf8', eol + 2, eol + 2 + n), next: eol + 2 + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, next: eol + 2 };
      const items: RedisReply[] = [];
      let next = eol + 2;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, next);
        if (!item) return undefined;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error(`not a RESP reply: ${JSON.stringify(buf.toString('utf8', at, Math.min(buf.length, at + 40)))}`);
  }
}

const encode = (args: string[]) =>
  Buffer.concat([
    Buffer.from(`*${args.length}\r\n`),
    ...args.flatMap((a) => [Buffer.from(`$${Buffer.byteLength(a)}\r\n`), Buffer.from(a), Buffer.from('\r\n')]),
  ]);

/**
 * Send the commands as they are, on one new connection (no AUTH added), and return every reply
 * in order; error replies are returned as RedisReplyError, not thrown. A connection that cannot
 * be made or closes early rejects (ECONNREFUSED while Redis is down).
 */
export async function redisCommands(target: { host: string; port: number }, commands: string[][], timeoutMs = 5000): Promise<RedisReply[]> {
  const socket = connect({ host: target.host, port: target.port });
  socket.setTimeout(timeoutMs);
  return new Promise((resolvePromise, reject) => {
    let buf = Buffer.alloc(0);
    const replies: RedisReply[] = [];
    const done = (error?: Error) => {
      socket.destroy();
      if (error) reject(error);
      else resolvePromise(replies);
    };
    socket.on('connect', () => socket.write(Buffer.concat(commands.map(encode))));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      let at = 0;
      for (;;) {
        const reply = parseReply(buf, at);
        if (!reply) break;
        replies.push(reply.value);
        at = reply.next;
      }
      buf = buf.subarray(at);
      if (replies.length >= commands.length) done();
    });
    socket.on('timeout', () => done(new Error(`Redis at ${target.host}:${target.port} did not answer within ${timeoutMs} ms`)));
    socket.on('error', (error) => done(error));
    socket.on('close', () => {
      if (replies.length < commands.length)
        done(new Error(`Redis closed the connection after ${replies.length} of ${commands.length} replies`));
    });
  });
}

/** One command after AUTH (when the target has a password) and SELECT; an error reply is thrown. */
export async function redisCommand(target: RedisTarget, ...args: string[]): Promise<RedisReply> {
  const prelude: string[][] = [];
  if (target.password) prelude.push(target.username ? ['AUTH', target.username, target.password] : ['AUTH', target.password]);
  if (target.db) prelude.push(['SELECT', String(target.db)]);
  const replies = await redisCommands(target, [...prelude, args]);
  for (const reply of replies) if (reply instanceof RedisReplyError) throw reply;
  return replies.at(-1) as RedisReply;
}

export interface PrivateRedis extends RedisTarget {
  /** The running redis-server's PID (undefined while stopped). */
  readonly pid: number | undefined;
  running(): boolean;
  /** Stop it (SIGTERM; SIGKILL for a crash) and wait until the process has exited and the port is closed. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Start it again on the same port with the same password (empty: no persistence). */
  start(): Promise<void>;
  /** Stop it and remove its directory. */
  close(): Promise<void>;
  /** What redis-server printed (its log), all runs. */
  output(): string;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** A port nothing listens on now (the kernel's choice). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * A private redis-server for one test file: 127.0.0.1, a free port (or `port`), a password
 * (random unless given), no persistence, in the foreground as a child of the test process,
 * its configuration file (mode 600) in its own temporary directory.
 */
export async function startRedis(options: { port?: number; password?: string } = {}): Promise<PrivateRedis> {
  const port = options.port ?? (await freePort());
  const password = options.password ?? `tus-redis-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  const dir = mkdtempSync(join(tmpdir(), 'tus-redis-'));
  const conf = join(dir, 'redis.conf');
  writeFileSync(
    conf,
    [
      'bind 127.0.0.1',
      `port ${port}`,
      'protected-mode yes',
      `requirepass ${password}`,
      'save ""',
      'appendonly no',
      `dir ${dir}`,
      'daemonize no',
      'logfile ""',
      'loglevel notice',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const logDir = process.env.TEST_LOG_DIR;
  const file = logDir ? createWriteStream(join(logDir, `redis-${process.pid}-${port}.log`), { flags: 'a' }) : undefined;
  let text = '';
  let child: ChildProcess | undefined;
  const target = parseRedisUrl(`redis://:${encodeURIComponent(password)}@127.0.0.1:${port}/0`);

  const ping = async () => {
    try {
      return (await redisCommand(target, 'PING')) === 'PONG';
    } catch {
      return false;
    }
  };

  const start = async () => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    const proc = spawn('redis-server', [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    children.add(proc);
    for (const stream of [proc.stdout, proc.stderr]) {
      stream?.on('data', (d) => {
        text += d;
        file?.write(d);
      });
    }
    proc.once('exit', () => children.delete(proc));
    // `once` rejects when the process emits 'error' instead (no redis-server on PATH).
    await once(proc, 'spawn').catch((error: Error) => {
      throw new Error(`cannot run redis-server (install Debian's redis-server: bash scripts/redis-server.sh install): ${error.message}`);
    });
    await until(
      async () => {
        if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}:\n${text}`);
        return ping();
      },
      `redis-server on port ${port}`,
      10_000,
    );
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill(signal);
    await exited;
    // The listening socket is closed with the process; make sure nothing answers any more.
    await until(async () => !(await ping()), `port ${port} to close`, 5000);
  };

  // A failed start leaves neither the process nor its directory behind.
  await start().catch(async (error: unknown) => {
    await stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  return {
    ...target,
    get pid() {
      return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
    },
    running: () => !!child && child.exitCode === null && child.signalCode === null,
    stop,
    start,
    async close() {
      await stop('SIGKILL');
      file?.end();
      rmSync(dir, { recursive: true, force: true });
    },
    output: () => text,
  };
}
