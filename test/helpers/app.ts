/** Start the real app in-process on 127.0.0.1 with a given environment; logs go to a file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import { REDACTED_PATHS } from '../../src/logger.js';
import { until } from './wait.js';

export interface RunningApp {
  app: FastifyInstance;
  /** Base URL, such as http://127.0.0.1:40123 */
  url: string;
  /** Upload directory of the default local location (when local). */
  root: string;
  close(): Promise<void>;
}

/**
 * Directories made for this test process, removed when it exits: upload directories (a test may
 * reopen one after closing its app) and the log directory when TEST_LOG_DIR is unset (kept, and
 * named, when the process fails, to read what went wrong).
 */
const madeDirs: string[] = [];
process.once('exit', (code) => {
  for (const dir of madeDirs) {
    if (code !== 0 && dir === logDir) {
      console.error(`# the logs are kept in ${dir}`);
      continue;
    }
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort: a child process still writing into it must not turn the exit into a failure.
    }
  }
});

function madeDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  madeDirs.push(dir);
  return dir;
}

/** Where the app and server processes log: TEST_LOG_DIR (npm test keeps it for test/after), else a directory of this process. */
export const logDir = process.env.TEST_LOG_DIR || madeDir('tus-test-logs-');

export async function startApp(env: Record<string, string> = {}): Promise<RunningApp> {
  const root = env.STORAGE_LOCAL_ROOT ?? madeDir('tus-uploads-');
  const config = parseConfig({ STORAGE_LOCAL_ROOT: root, LOG_LEVEL: 'info', ...env });
  const logger = pino(
    { level: config.logLevel, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    pino.destination({ dest: join(logDir, `app-${process.pid}.log`), sync: true }),
  );
  const app = await buildApp(config, { logger });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return { app, url: `http://127.0.0.1:${address.port}`, root, close: () => app.close() };
}

/** The app with `env`, closed when test `t` ends. */
export async function startAppFor(t: { teardown(fn: () => unknown): void }, env: Record<string, string> = {}): Promise<RunningApp> {
  const app = await startApp(env);
  t.teardown(() => app.close());
  return app;
}

/** The environment of a rate limiter allowing `points` requests per `duration` and client. */
export const rateLimit = (points: number, duration: string): Record<string, string> => ({
  RATE_LIMITER_ENABLED: 'true',
  RATE_LIMITER_POINTS: String(points),
  RATE_LIMITER_DURATION: duration,
});

export const TUS = { 'Tus-Resumable': '1.0.0' } as const;

export function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

/** POST a new upload and return its absolute URL. */
export async function createUpload(
  base: string,
  length: number | 'deferred',
  extra: Record<string, string> = {},
  path = '/files/',
): Promise<string> {
  const headers: Record<string, string> = { ...TUS, ...extra };
  if (length === 'deferred') headers['Upload-Defer-Length'] = '1';
  else headers['Upload-Length'] = String(length);
  const res = await fetch(`${base}${path}`, { method: 'POST', headers });
  if (res.status !== 201) throw new Error(`create: ${res.status} ${await res.text()}`);
  const location = res.headers.get('location');
  if (!location) throw new Error('create: no Location');
  return new URL(location, base).toString();
}

export async function patch(url: string, offset: number, body: Uint8Array, extra: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'PATCH',
    headers: { ...TUS, 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream', ...extra },
    body: body as unknown as BodyInit,
  });
}

export async function head(url: string): Promise<Response> {
  return fetch(url, { method: 'HEAD', headers: TUS });
}

/**
 * HEAD until it answers 200 (a 423 after the lock timeout, or a 503 while an instance
 * reconnects to Redis, is asked again), within `deadline` ms: the answer and how long it took.
 */
export async function headWithin(url: string, deadline: number, everyMs?: number): Promise<{ res: Response; waited: number }> {
  const started = Date.now();
  let res: Response | undefined;
  await until(
    async () => {
      res = await head(url);
      return res.status === 200;
    },
    `HEAD ${url} to answer 200`,
    deadline,
    everyMs,
  );
  return { res: res as Response, waited: Date.now() - started };
}
