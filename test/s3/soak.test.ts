/**
 * Soak (issue 14, item 6): the built server as its own process on the S3 driver, under a real
 * client load for SOAK_SECONDS: SOAK_CONCURRENCY small uploads in flight at all times (seeded
 * sizes 1 KiB to 2 MiB, log-uniform; some in several PATCHes, some created with their first
 * bytes (creation-with-upload), some with Upload-Checksum, which spools them in TUS_TEMP_DIR;
 * a new one starts as soon as one finishes) plus SOAK_LARGE large ones (SOAK_LARGE_SIZE each,
 * streamed from seeded bytes in several PATCHes, never held in memory), also restarted as they
 * finish. Once a second the server process is sampled: RSS, open descriptors, sockets (client
 * connections and S3 connections apart, from /proc/net/tcp), bytes in TUS_TEMP_DIR.
 *
 * Asserted: every finished upload is byte-exact in S3 (sha256 of the object against the seeded
 * bytes, hashed while they were sent); no upload failed; RSS and descriptors level off (the
 * last third of the load no higher than the middle third, with a tolerance) and stay under a
 * ceiling derived from the concurrency; after the load and a drain, the descriptors other than
 * idle S3 keep-alive connections are back at the idle baseline, no client connection is left,
 * TUS_TEMP_DIR is empty, and nothing is orphaned in the bucket (no multipart upload; only the
 * objects and .info of the finished uploads).
 *
 * Why a leak fails it: a descriptor leaked per upload (a spool file, a socket, a stream) stays
 * open after the drain, hundreds of them after even the short run, against a drain tolerance of
 * DRAIN_SLACK; over a long run it also breaks the ceiling and the level-off check.
 *
 * SEED=<n> replays the upload sizes and bytes; SOAK_SECONDS (CI default 25; the long run 300),
 * SOAK_CONCURRENCY (200; 64 in runs of a minute or less), SOAK_LARGE (4), SOAK_LARGE_SIZE (bytes or "256MiB"; default 32MiB),
 * SOAK_TABLE_EVERY (rows of the printed table: every n-th second), SOAK_REPORT (a file to write
 * the table and the figures to, in Markdown), SOAK_SERVER_MAIN (another build's main.js, for
 * instance one with a leak put in on purpose, to see the soak fail).
 */
import { createCipheriv, createHash, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import {
  DeleteObjectsCommand,
  type DeleteObjectsCommandInput,
  type DeleteObjectsCommandOutput,
  GetObjectCommand,
  ListMultipartUploadsCommand,
} from '@aws-sdk/client-s3';
import type { FinalizeHandler, FinalizeHandlerArguments } from '@smithy/types';
import PQueue from 'p-queue';
import t from 'tap';
import { startProcess } from '../helpers/process.js';
import { objectSha256, s3LocationEnv, s3TestServer, storedKeys, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { scratchDir } from '../helpers/scratch.js';
import { seeded, sizeFromEnv } from '../helpers/seeded.js';
import { KiB, MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const SEED = Number(process.env.SEED ?? randomInt(2 ** 31));
const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 25);
// The short CI run keeps 64 in flight: 200 on the shared 2-core CI box overload the Swift test
// server until its requests time out, which tests Swift, not this server.
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? (SOAK_SECONDS > 60 ? 200 : 64));
const LARGE = Number(process.env.SOAK_LARGE ?? 4);
const LARGE_SIZE = sizeFromEnv(process.env.SOAK_LARGE_SIZE, 32 * MiB);
const TABLE_EVERY = Number(process.env.SOAK_TABLE_EVERY ?? (SOAK_SECONDS > 60 ? 10 : 1));
const REPORT = process.env.SOAK_REPORT;
/** The server's default STORAGE_<LOC>_PART_CONCURRENCY: S3 parts in flight at once. */
const PART_CONCURRENCY = 60;
/** Descriptors above the idle baseline tolerated after the drain (timers, lazily opened files, a connection closing). */
const DRAIN_SLACK = 16;

const server = s3TestServer();
const s3 = verifyClient(server);
const s3Port = Number(new URL(server.endpoint).port || 80);

// ---------------------------------------------------------------- seeded bytes

/** The key of an upload's byte stream: AES-128-CTR over zeros, so any range can be made on its own, fast. */
function streamKey(kind: string, n: number): Buffer {
  return createHash('sha256').update(`${SEED}/${kind}/${n}`).digest().subarray(0, 16);
}

/** Bytes [offset, offset + length) of the stream of `key`. */
function seededBytes(key: Buffer, offset: number, length: number): Buffer {
  const start = offset - (offset % 16);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(start / 16), 8);
  const out = createCipheriv('aes-128-ctr', key, iv).update(Buffer.alloc(length + offset - start));
  return out.subarray(offset - start);
}

/** An upload's own generator of sizes and choices, from the seed and its number. */
function uploadRandom(kind: number, n: number): () => number {
  return seeded((SEED ^ Math.imul(n + 1, 0x9e3779b1) ^ Math.imul(kind + 1, 0x85ebca6b)) >>> 0);
}

/** `pieces` boundaries cutting [0, size) at seeded points: [0, b1, ..., size]. */
function cutPoints(random: () => number, size: number, pieces: number): number[] {
  const inner = new Set<number>();
  while (inner.size < Math.min(pieces - 1, size - 1)) inner.add(1 + Math.floor(random() * (size - 1)));
  return [0, ...[...inner].sort((a, b) => a - b), size];
}

// ---------------------------------------------------------------- the client

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** Client connections: kept alive, one per upload in flight. */
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY + LARGE + 8, maxFreeSockets: CONCURRENCY + LARGE + 8 });

function call(
  base: URL,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer | { length: number; chunks: AsyncIterable<Buffer> },
): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const all = { 'Tus-Resumable': '1.0.0', ...headers, ...(body ? { 'Content-Length': String(body.length) } : {}) };
    const req = request({ agent, host: base.hostname, port: base.port, method, path, headers: all }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.setTimeout(180_000, () => req.destroy(new Error(`${method} ${path}: no answer in 180 s`)));
    req.on('error', reject);
    if (!body) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      (async () => {
        for await (const chunk of body.chunks) {
          if (!req.write(chunk)) await once(req, 'drain');
        }
        req.end();
      })().catch((error: unknown) => req.destroy(error as Error));
    }
  });
}

function expectStatus(what: string, answer: Answer, status: number): void {
  if (answer.status !== status) throw new Error(`${what}: ${answer.status} (expected ${status}): ${answer.text.slice(0, 300)}`);
}

function expectOffset(what: string, answer: Answer, offset: number): void {
  if (answer.headers['upload-offset'] !== String(offset)) {
    throw new Error(`${what}: Upload-Offset ${answer.headers['upload-offset']} (expected ${offset})`);
  }
}

// ---------------------------------------------------------------- sampling the server process

interface Sample {
  t: number;
  phase: 'idle' | 'load' | 'drain';
  rssMiB: number;
  fds: number;
  sockets: number;
  /** Sockets of connections from clients (local port = the server's). */
  clientSockets: number;
  /** Sockets of connections to S3. */
  s3Sockets: number;
  tempMiB: number;
  /** CPU the server used since the sample before, in % of one core. */
  cpu: number;
  finished: number;
  verified: number;
}

/** Socket inode -> [local port, remote port], from the kernel's TCP tables. */
function tcpPorts(): Map<string, [number, number]> {
  const ports = new Map<string, [number, number]>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // Listening sockets are not connections.
      if (f.length < 10 || f[3] === '0A') continue;
      const local = Number.parseInt(f[1]?.split(':')[1] ?? '', 16);
      const remote = Number.parseInt(f[2]?.split(':')[1] ?? '', 16);
      ports.set(f[9] as string, [local, remote]);
    }
  }
  return ports;
}

function dirBytes(dir: string): number {
  let total = 0;
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const path = join(dir, name);
    try {
      const st = statSync(path);
      total += st.isDirectory() ? dirBytes(path) : st.size;
    } catch {
      // removed meanwhile
    }
  }
  return total;
}

/** CPU seconds the process has used (user + system), from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function sampleProcess(pid: number, serverPort: number, tempDir: string): Omit<Sample, 't' | 'phase' | 'finished' | 'verified' | 'cpu'> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  const fdNames = readdirSync(`/proc/${pid}/fd`);
  const inodes: string[] = [];
  for (const fd of fdNames) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.push(m[1] as string);
    } catch {
      // closed meanwhile
    }
  }
  const ports = tcpPorts();
  let clientSockets = 0;
  let s3Sockets = 0;
  for (const inode of inodes) {
    const p = ports.get(inode);
    if (!p) continue;
    if (p[0] === serverPort) clientSockets++;
    else if (p[1] === s3Port) s3Sockets++;
  }
  return {
    rssMiB: rssKiB / 1024,
    fds: fdNames.length,
    sockets: inodes.length,
    clientSockets,
    s3Sockets,
    tempMiB: dirBytes(tempDir) / MiB,
  };
}

const maxOf = (samples: Sample[], pick: (s: Sample) => number) => samples.reduce((m, s) => Math.max(m, pick(s)), 0);

function table(samples: Sample[], every: number): string[] {
  const rows = [
    '| t (s) | phase | RSS MiB | fds | sockets (client / S3) | temp MiB | server CPU % | uploads finished | verified |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  let next = 0;
  samples.forEach((s, i) => {
    const last = i === samples.length - 1 || samples[i + 1]?.phase !== s.phase;
    if (s.t < next && !last) return;
    next = Math.floor(s.t / every) * every + every;
    rows.push(
      `| ${s.t} | ${s.phase} | ${s.rssMiB.toFixed(0)} | ${s.fds} | ${s.sockets} (${s.clientSockets} / ${s.s3Sockets}) | ${s.tempMiB.toFixed(1)} | ${s.cpu.toFixed(0)} | ${s.finished} | ${s.verified} |`,
    );
  });
  return rows;
}

// ---------------------------------------------------------------- the soak

t.test('soak: small and large uploads at a steady concurrency; every upload byte-exact, resources level off, nothing left', async (t) => {
  const root = uniqueRoot('soak');
  const tempDir = scratchDir(t, 'tus-soak-temp-');
  const proc = await startProcess(
    s3LocationEnv(server, root, { TUS_TEMP_DIR: tempDir, LOG_LEVEL: 'warn' }),
    process.env.SOAK_SERVER_MAIN ? { main: process.env.SOAK_SERVER_MAIN } : {},
  );
  t.teardown(() => proc.stop('SIGKILL'));
  const pid = proc.child.pid as number;
  const base = new URL(proc.url);
  const serverPort = Number(base.port);

  const finishedIds: string[] = [];
  const failures: string[] = [];
  const counts = {
    resumed: 0,
    smallStarted: 0,
    largeStarted: 0,
    small: 0,
    large: 0,
    checksummed: 0,
    withCreation: 0,
    patches: 0,
    bytes: 0,
    verified: 0,
  };
  const verify = new PQueue({ concurrency: 8 });
  const verifyObject = (id: string, sha256: string, size: number, what: string) =>
    verify.add(async () => {
      try {
        const got = await objectSha256(s3, server.bucket, `${root}${id}`);
        if (got.sha256 !== sha256 || got.size !== size)
          failures.push(`${what}: S3 object ${got.size} bytes sha256 ${got.sha256}, sent ${size} bytes ${sha256}`);
        else counts.verified++;
      } catch (error) {
        failures.push(`${what}: reading the S3 object: ${(error as Error).message}`);
      }
    });

  const idOf = (answer: Answer, what: string): string => {
    const location = answer.headers.location;
    if (typeof location !== 'string') throw new Error(`${what}: no Location`);
    return new URL(location, base).pathname.split('/').pop() as string;
  };

  /**
   * Like a tus client (tus-js-client's retryDelays): a 503 or 423 (S3 overloaded, a lock still
   * held), or a connection error, is retried after a delay; a PATCH then resumes from the offset
   * HEAD answers. Every retry is counted by its reason; any other answer fails the upload.
   */
  const RETRY_DELAYS = [1000, 2000, 5000, 10_000, 20_000];
  const retries = new Map<string, number>();
  /** Uploads (their metadata filename) whose POST had to be retried: the server may have stored an .info it answered 503 for. */
  const postRetried = new Set<string>();
  const retryable = (status: number) => status === 503 || status === 423;
  const noteRetry = (reason: string) => retries.set(reason, (retries.get(reason) ?? 0) + 1);
  const reasonOf = (a: Answer) => `${a.status} ${a.text.replace(/[0-9a-f]{32}/g, '<id>').slice(0, 160)}`;
  const errorReason = (error: unknown) => `connection: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  async function withRetries(
    what: string,
    attempt: () => Promise<Answer>,
    ok: (a: Answer) => boolean,
    onRetry: () => void = () => {},
  ): Promise<Answer> {
    for (let i = 0; ; i++) {
      let reason: string;
      try {
        const answer = await attempt();
        if (ok(answer) || !retryable(answer.status)) return answer;
        reason = reasonOf(answer);
      } catch (error) {
        reason = errorReason(error);
      }
      const delay = RETRY_DELAYS[i];
      if (delay === undefined) throw new Error(`${what}: gave up after ${RETRY_DELAYS.length} retries: ${reason}`);
      noteRetry(reason);
      onRetry();
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /**
   * Send the upload's bytes from `offset` in PATCHes ending at `points`, resuming from HEAD after
   * a retryable failure. The sha256 covers each byte once (`hash` is fed up to the highest offset sent).
   */
  async function sendFrom(
    what: string,
    id: string,
    key: Buffer,
    points: number[],
    offset: number,
    hash: { update(b: Buffer): void; upTo: number },
    checksum: boolean,
  ): Promise<void> {
    const size = points[points.length - 1] as number;
    while (offset < size) {
      const from = offset;
      const to = points.find((p) => p > from) as number;
      const feed = (at: number, chunk: Buffer) => {
        if (at + chunk.length > hash.upTo) {
          hash.update(chunk.subarray(hash.upTo - at));
          hash.upTo = at + chunk.length;
        }
        return chunk;
      };
      const headers: Record<string, string> = { 'Upload-Offset': String(from), 'Content-Type': 'application/offset+octet-stream' };
      let body: Buffer | { length: number; chunks: AsyncIterable<Buffer> };
      if (to - from <= 2 * MiB) {
        body = feed(from, seededBytes(key, from, to - from));
        if (checksum) headers['Upload-Checksum'] = `sha1 ${createHash('sha1').update(body).digest('base64')}`;
      } else {
        async function* chunks(): AsyncIterable<Buffer> {
          for (let at = from; at < to; at += MiB) yield feed(at, seededBytes(key, at, Math.min(MiB, to - at)));
        }
        body = { length: to - from, chunks: chunks() };
      }
      let res: Answer | undefined;
      try {
        res = await call(base, 'PATCH', `/files/${id}`, headers, body);
        counts.patches++;
      } catch (error) {
        noteRetry(errorReason(error));
      }
      if (res?.status === 204) {
        expectOffset(`${what}: PATCH at ${from}`, res, to);
        offset = to;
        continue;
      }
      if (res && !retryable(res.status)) expectStatus(`${what}: PATCH at ${from}`, res, 204);
      if (res) noteRetry(reasonOf(res));
      counts.resumed++;
      if (counts.resumed > 50 * RETRY_DELAYS.length) throw new Error(`${what}: too many resumes`);
      await new Promise((r) => setTimeout(r, RETRY_DELAYS[0]));
      const head = await withRetries(
        `${what}: HEAD`,
        () => call(base, 'HEAD', `/files/${id}`, {}),
        (a) => a.status === 200,
      );
      expectStatus(`${what}: HEAD`, head, 200);
      offset = Number(head.headers['upload-offset']);
      if (!(offset >= from && offset <= to))
        throw new Error(`${what}: HEAD offset ${offset} outside [${from}, ${to}] after a PATCH at ${from} failed`);
    }
  }

  async function smallUpload(n: number): Promise<void> {
    const random = uploadRandom(0, n);
    const size = Math.round(KiB * 2 ** (random() * 11)); // 1 KiB .. 2 MiB, log-uniform
    const points = cutPoints(random, size, 1 + Math.floor(random() * 4));
    const withCreation = random() < 0.3;
    const withChecksum = random() < 0.25;
    const key = streamKey('small', n);
    const hash = Object.assign(createHash('sha256'), { upTo: 0 });
    const what = `small #${n} (${size} bytes, ${points.length - 1} pieces${withCreation ? ', creation-with-upload' : ''}${withChecksum ? ', checksum' : ''})`;
    const headers: Record<string, string> = {
      'Upload-Length': String(size),
      'Upload-Metadata': `filename ${Buffer.from(`soak-${n}.bin`).toString('base64')}`,
    };
    const first = withCreation ? seededBytes(key, 0, points[1] as number) : undefined;
    if (first) {
      headers['Content-Type'] = 'application/offset+octet-stream';
      counts.withCreation++;
    }
    if (withChecksum) counts.checksummed++;
    const created = await withRetries(
      `${what}: POST`,
      () => call(base, 'POST', '/files/', headers, first),
      (a) => a.status === 201,
      () => postRetried.add(`soak-${n}.bin`),
    );
    expectStatus(`${what}: POST`, created, 201);
    let offset = 0;
    if (first) {
      // The answer says how much of the first bytes were stored (all of them, unless S3 failed on the way).
      offset = Number(created.headers['upload-offset']);
      if (!(offset >= 0 && offset <= first.length))
        throw new Error(`${what}: POST with ${first.length} bytes answered Upload-Offset ${offset}`);
      hash.update(first.subarray(0, offset));
      hash.upTo = offset;
    }
    const id = idOf(created, what);
    await sendFrom(what, id, key, points, offset, hash, withChecksum);
    counts.small++;
    counts.bytes += size;
    finishedIds.push(id);
    void verifyObject(id, hash.digest('hex'), size, what);
  }

  async function largeUpload(n: number): Promise<void> {
    const random = uploadRandom(1, n);
    const size = LARGE_SIZE;
    const points = cutPoints(random, size, 3 + Math.floor(random() * 4));
    const key = streamKey('large', n);
    const hash = Object.assign(createHash('sha256'), { upTo: 0 });
    const what = `large #${n} (${size} bytes, ${points.length - 1} PATCHes)`;
    const created = await withRetries(
      `${what}: POST`,
      () =>
        call(base, 'POST', '/files/', {
          'Upload-Length': String(size),
          'Upload-Metadata': `filename ${Buffer.from(`soak-large-${n}.bin`).toString('base64')}`,
        }),
      (a) => a.status === 201,
      () => postRetried.add(`soak-large-${n}.bin`),
    );
    expectStatus(`${what}: POST`, created, 201);
    const id = idOf(created, what);
    await sendFrom(what, id, key, points, 0, hash, false);
    counts.large++;
    counts.bytes += size;
    finishedIds.push(id);
    void verifyObject(id, hash.digest('hex'), size, what);
  }

  // Sampling once a second, from the idle server on.
  const samples: Sample[] = [];
  const started = Date.now();
  let phase: Sample['phase'] = 'idle';
  let cpuBefore = { at: Date.now(), seconds: cpuSeconds(pid) };
  const takeSample = () => {
    try {
      const cpuNow = { at: Date.now(), seconds: cpuSeconds(pid) };
      const cpu = (100 * (cpuNow.seconds - cpuBefore.seconds)) / Math.max(0.001, (cpuNow.at - cpuBefore.at) / 1000);
      cpuBefore = cpuNow;
      samples.push({
        t: Math.round((Date.now() - started) / 1000),
        phase,
        ...sampleProcess(pid, serverPort, tempDir),
        cpu,
        finished: counts.small + counts.large,
        verified: counts.verified,
      });
    } catch (error) {
      failures.push(`sampling the server process ${pid}: ${(error as Error).message}`);
    }
  };
  takeSample();
  const sampler = setInterval(takeSample, 1000);
  t.teardown(() => clearInterval(sampler));
  const idle = samples[0] as Sample;

  // The load: every slot starts a new upload as soon as its last one finished, until the end.
  phase = 'load';
  const loadEnds = Date.now() + SOAK_SECONDS * 1000;
  let nextSmall = 0;
  let nextLarge = 0;
  const slot = async (large: boolean) => {
    while (Date.now() < loadEnds) {
      const n = large ? nextLarge++ : nextSmall++;
      if (large) counts.largeStarted++;
      else counts.smallStarted++;
      try {
        await (large ? largeUpload(n) : smallUpload(n));
      } catch (error) {
        failures.push(`${large ? 'large' : 'small'} #${n}: ${(error as Error).message}`);
      }
      // Verification is bounded: a slot waits while too many objects are still to be read back.
      if (verify.size > 2000) await verify.onSizeLessThan(1000);
    }
  };
  const slots = [...Array.from({ length: CONCURRENCY }, () => slot(false)), ...Array.from({ length: LARGE }, () => slot(true))];
  await until(() => Date.now() >= loadEnds, 'the end of the load', SOAK_SECONDS * 1000 + 5000, 200);
  const loadSamples = samples.filter((s) => s.phase === 'load');

  // The drain: the uploads in flight finish, the objects are read back, the client closes its connections.
  phase = 'drain';
  const drainStarted = Date.now();
  await Promise.all(slots);
  await verify.onIdle();
  agent.destroy();
  const settled = () => {
    const now = sampleProcess(pid, serverPort, tempDir);
    // (The idle baseline may hold one client connection: the start-up health check's keep-alive.)
    return (
      now.clientSockets <= idle.clientSockets && now.fds - now.s3Sockets <= idle.fds - idle.s3Sockets + DRAIN_SLACK && now.tempMiB === 0
    );
  };
  let drainSettled = true;
  try {
    await until(settled, 'the server to close what the load opened', 30_000, 250);
  } catch {
    drainSettled = false;
  }
  takeSample();
  clearInterval(sampler);
  const end = samples[samples.length - 1] as Sample;
  const drainSeconds = (Date.now() - drainStarted) / 1000;

  // The figures.
  // The level-off checks compare the middle and last thirds of the load after its warm-up (until
  // as many uploads finished as there are slots: the buffers, pools and caches have grown).
  const warm = loadSamples.filter((s) => s.finished >= CONCURRENCY + LARGE);
  const thirds = Math.floor(warm.length / 3);
  const middle = warm.slice(thirds, 2 * thirds);
  const last = warm.slice(2 * thirds);
  const peaks = {
    rssMiB: maxOf(samples, (s) => s.rssMiB),
    fds: maxOf(samples, (s) => s.fds),
    sockets: maxOf(samples, (s) => s.sockets),
    clientSockets: maxOf(samples, (s) => s.clientSockets),
    s3Sockets: maxOf(samples, (s) => s.s3Sockets),
    tempMiB: maxOf(samples, (s) => s.tempMiB),
  };
  const level = (pick: (s: Sample) => number) => `${maxOf(middle, pick).toFixed(0)} -> ${maxOf(last, pick).toFixed(0)}`;
  const finished = counts.small + counts.large;
  const summary = [
    `SEED=${SEED} SOAK_SECONDS=${SOAK_SECONDS} SOAK_CONCURRENCY=${CONCURRENCY} SOAK_LARGE=${LARGE} SOAK_LARGE_SIZE=${LARGE_SIZE}`,
    `uploads: ${finished} finished and ${counts.verified} verified byte-exact of ${counts.smallStarted + counts.largeStarted} started (${counts.small} small of ${counts.smallStarted}, ${counts.large} large of ${counts.largeStarted}); ${counts.withCreation} created with their first bytes, ${counts.checksummed} with Upload-Checksum; ${counts.patches} PATCHes; ${(counts.bytes / MiB).toFixed(0)} MiB; ${failures.length} failures`,
    `rate over the load: ${(finished / ((drainStarted - started) / 1000)).toFixed(1)} uploads/s, ${(counts.bytes / MiB / ((drainStarted - started) / 1000)).toFixed(1)} MiB/s (the drain took ${drainSeconds.toFixed(1)} s)`,
    `server CPU over the load: mean ${(loadSamples.reduce((sum, s) => sum + s.cpu, 0) / Math.max(1, loadSamples.length)).toFixed(0)}% of one core (the box has 2 cores, shared with the S3 server, the client and other work)`,
    `idle: RSS ${idle.rssMiB.toFixed(0)} MiB, ${idle.fds} fds, ${idle.sockets} sockets (${idle.clientSockets} client / ${idle.s3Sockets} S3)`,
    `peaks: RSS ${peaks.rssMiB.toFixed(0)} MiB, ${peaks.fds} fds, ${peaks.sockets} sockets (client ${peaks.clientSockets}, S3 ${peaks.s3Sockets}), temp ${peaks.tempMiB.toFixed(1)} MiB`,
    `max of the middle third -> max of the last third of the load after its warm-up (${warm.length} s): RSS ${level((s) => s.rssMiB)} MiB, fds ${level((s) => s.fds)}, sockets ${level((s) => s.sockets)}, temp ${level((s) => s.tempMiB)} MiB`,
    `after the drain: RSS ${end.rssMiB.toFixed(0)} MiB, ${end.fds} fds, ${end.sockets} sockets (${end.clientSockets} client / ${end.s3Sockets} S3 kept alive), temp ${end.tempMiB.toFixed(1)} MiB`,
  ];
  // What is left in the bucket; a stray .info is shown with the upload it was (its metadata names it).
  const mpu = await s3.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: root }));
  const keys = await storedKeys(s3, server.bucket, root);
  const expected = new Set(finishedIds.flatMap((id) => [`${root}${id}`, `${root}${id}.info`]));
  const stray = keys.filter((k) => !expected.has(k));
  // Known gap (reported, not asserted): a POST answered 503 because S3 did not answer the .info's
  // PutObject within STORAGE_<LOC>_REQUEST_TIMEOUT, while S3 stored it later: an upload no client
  // knows, left until the expiration cleanup. Any other stray object fails the test.
  const strayNotes: string[] = [];
  const unexplained: string[] = [];
  let lateInfos = 0;
  const present = new Set(keys);
  for (const key of stray) {
    let note = key.slice(root.length);
    let known = false;
    if (key.endsWith('.info') && !present.has(key.slice(0, -5))) {
      try {
        const info = JSON.parse(
          (await (await s3.send(new GetObjectCommand({ Bucket: server.bucket, Key: key }))).Body?.transformToString()) ?? '{}',
        );
        const filename = String(info.metadata?.filename ?? '');
        known = postRetried.has(filename);
        note += ` (${filename || JSON.stringify(info.metadata ?? {}).slice(0, 60)}, no object${known ? ', its POST was answered 503 and retried' : ''})`;
      } catch (error) {
        note += ` (unreadable: ${(error as Error).message})`;
      }
    }
    if (key.endsWith('.part')) {
      const id = key.slice(root.length, -'.part'.length);
      note += ` (tail of ${finishedIds.includes(id) ? 'a finished upload' : 'an upload the client gave up'}${present.has(`${root}${id}.info`) ? ', .info present' : ''})`;
    }
    if (known) lateInfos++;
    else unexplained.push(note);
    if (strayNotes.length < 5) strayNotes.push(note);
  }
  summary.push(
    `retries (like a tus client: 503/423 and connection errors, a PATCH resumed from HEAD): ${[...retries].map(([r, n]) => `${n}x ${r}`).join('; ') || 'none'}; ${counts.resumed} PATCHes resumed`,
    `left in the bucket: ${keys.length} objects (${expected.size} expected), ${(mpu.Uploads ?? []).length} multipart uploads${stray.length ? `; stray: ${stray.length} (${lateInfos} .info of a POST answered 503 after S3 did not answer in time, ${unexplained.length} unexplained), e.g. ${strayNotes.join(', ')}` : ''}`,
  );
  const rows = table(samples, TABLE_EVERY);
  for (const line of [...summary, ...rows]) t.comment(line);
  if (REPORT) writeFileSync(REPORT, `${summary.map((l) => `- ${l}`).join('\n')}\n\n${rows.join('\n')}\n`);

  // Every upload finished, none failed, each byte-exact.
  t.same(failures.slice(0, 20), [], `no upload failed (${failures.length} failures)`);
  t.ok(finished >= CONCURRENCY + LARGE, `every slot finished an upload at least (${finished} finished)`);
  t.equal(finished, counts.smallStarted + counts.largeStarted, 'every upload started finished');
  t.equal(counts.verified, finished, 'every finished upload is byte-exact in S3');
  t.ok(counts.large >= LARGE, `every large slot finished at least one upload (${counts.large})`);

  // Bounded by the concurrency at every sample: one client connection per upload in flight; S3
  // connections at most one per small upload's S3 request plus the parts in flight; descriptors:
  // those, a spool file per checksummed body, and the idle baseline.
  const inFlight = CONCURRENCY + LARGE;
  const s3Ceiling = 2 * inFlight + PART_CONCURRENCY + 32;
  const fdCeiling = idle.fds + (inFlight + 16) + s3Ceiling + CONCURRENCY + 32;
  t.ok(peaks.clientSockets <= inFlight + 16, `client connections <= ${inFlight + 16} (peak ${peaks.clientSockets})`);
  t.ok(peaks.s3Sockets <= s3Ceiling, `S3 connections <= ${s3Ceiling} (peak ${peaks.s3Sockets})`);
  t.ok(peaks.fds <= fdCeiling, `descriptors <= ${fdCeiling} (peak ${peaks.fds})`);
  t.ok(
    peaks.tempMiB <= (CONCURRENCY * 2 * MiB) / MiB,
    `temp bytes <= one small body per upload in flight (peak ${peaks.tempMiB.toFixed(1)} MiB)`,
  );

  // Level off: the last third of the load no higher than the middle third, within a tolerance
  // (the load is steady; the large uploads' parts make RSS swing by up to PART_MEMORY).
  if (thirds >= 3) {
    const rssMid = maxOf(middle, (s) => s.rssMiB);
    const fdsMid = maxOf(middle, (s) => s.fds);
    t.ok(maxOf(last, (s) => s.rssMiB) <= rssMid * 1.25 + 32, `RSS levels off: ${level((s) => s.rssMiB)} MiB (<= +25% + 32 MiB)`);
    t.ok(maxOf(last, (s) => s.fds) <= fdsMid * 1.25 + 32, `descriptors level off: ${level((s) => s.fds)} (<= +25% + 32)`);
  } else t.comment(`level-off checks skipped: they need 9 samples of load after the warm-up (${warm.length}); SOAK_SECONDS=300 has them`);

  // After the drain: back at the idle baseline, but for the S3 connections kept alive.
  t.ok(drainSettled, 'the server closed what the load opened within 30 s of the drain');
  t.ok(
    end.clientSockets <= idle.clientSockets,
    `no client connection left beyond the idle baseline (${end.clientSockets}, idle ${idle.clientSockets})`,
  );
  t.ok(
    end.fds - end.s3Sockets <= idle.fds - idle.s3Sockets + DRAIN_SLACK,
    `descriptors other than S3 keep-alive connections back at the baseline: ${end.fds - end.s3Sockets} (idle ${idle.fds - idle.s3Sockets}, + ${DRAIN_SLACK} allowed)`,
  );
  t.ok(end.s3Sockets <= s3Ceiling, `S3 keep-alive connections bounded: ${end.s3Sockets}`);
  t.same(readdirSync(tempDir), [], 'TUS_TEMP_DIR is empty');

  // Nothing orphaned: no multipart upload; only each finished upload's object (and its .info).
  t.same(
    (mpu.Uploads ?? []).map((u) => u.Key),
    [],
    'no multipart upload left under the root',
  );
  // (A small file sent whole with its creation has no .info: its state is in the object's metadata.)
  t.ok(
    finishedIds.every((id) => present.has(`${root}${id}`)),
    `every finished upload's object is there (${finishedIds.length})`,
  );
  t.same(unexplained.slice(0, 10), [], `no other object under the root (no tail, no stray object; ${unexplained.length})`);
  if (lateInfos > 0) {
    t.comment(
      `known gap: ${lateInfos} .info objects of POSTs answered 503 (S3 did not answer PutObject within STORAGE_S3_REQUEST_TIMEOUT) were stored by S3 after all; no client knows them; they expire with TUS_UPLOAD_EXPIRATION`,
    );
  }
  t.equal(await proc.stop('SIGTERM'), 0, 'the server stops cleanly');

  // The soak writes a lot: remove its objects from the test bucket (Swift wants Content-MD5 on a multi-object delete).
  for (let i = 0; i < keys.length; i += 1000) {
    const command = new DeleteObjectsCommand({
      Bucket: server.bucket,
      Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
    });
    command.middlewareStack.addRelativeTo(
      (next: FinalizeHandler<DeleteObjectsCommandInput, DeleteObjectsCommandOutput>) =>
        async (args: FinalizeHandlerArguments<DeleteObjectsCommandInput>) => {
          const req = args.request as { headers: Record<string, string>; body: string };
          req.headers['content-md5'] = createHash('md5').update(req.body).digest('base64');
          return next(args);
        },
      { relation: 'before', toMiddleware: 'awsAuthMiddleware' },
    );
    const deleted = await s3.send(command);
    t.same(deleted.Errors ?? [], [], `removed ${Math.min(1000, keys.length - i)} objects of the soak`);
  }
});
