#!/usr/bin/env node
// npm run bench [-- --quick] [-- --only a,b]: our server vs the direct S3 upload (ceiling) vs
// @tus/server + @tus/s3-store (peer) vs the least a correct Node tus-to-S3 relay does (floor,
// bench/floor-server.mjs), interleaved, on the same bytes. See bench/README.md.
// npm run bench:cluster [-- --quick] (--cluster): scenario (c) against one instance and against
// two behind HAProxy with Redis, interleaved.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { SERVER_NODE_FLAGS } from '../scripts/runtime.mjs';
import { writeBody } from './body-writer.mjs';
import { runGroups } from './groups.mjs';
import { cpuSeconds, readCalls, sampler, tree } from './proc.mjs';
import { rawMultipart, rawS3 } from './raw-s3.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const ONLY = (args.find((a) => a.startsWith('--only='))?.slice(7) ?? '').split(',').filter(Boolean);
// --groups=base,ceiling,writes,latency,memory picks the tables (default: all; "ceiling" alone runs
// the base scenarios' ceiling rows only, without peer and ours).
const ALL_GROUPS = ['base', 'writes', 'latency', 'memory'];
const GROUPS = (args.find((a) => a.startsWith('--groups='))?.slice(9) ?? ALL_GROUPS.join(',')).split(',').filter(Boolean);
// Runs per target of the base rows (2 keeps a full default run near 40 minutes on 2 cores; the
// groups have their own, see bench/groups.mjs).
const RUNS = QUICK ? 1 : Number(process.env.BENCH_RUNS || 2);
// BENCH_SIZE_MIB overrides the large upload size (for profiling longer or shorter runs).
const BIG = process.env.BENCH_SIZE_MIB ? Number(process.env.BENCH_SIZE_MIB) * MiB : QUICK ? 128 * MiB : GiB;

// ---- S3 server -----------------------------------------------------------------------------
let s3env = process.env;
if (!process.env.S3_TEST_ENDPOINT) {
  execFileSync('bash', [join(ROOT, 'scripts/s3-server.sh'), 'start'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const file = readFileSync(join(ROOT, '.s3-test/env'), 'utf8');
  s3env = {
    ...Object.fromEntries(
      file
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(/=(.*)/s).slice(0, 2)),
    ),
    ...process.env,
  };
}
const S3 = {
  endpoint: s3env.S3_TEST_ENDPOINT,
  region: s3env.S3_TEST_REGION || 'us-east-1',
  key: s3env.S3_TEST_KEY,
  secret: s3env.S3_TEST_SECRET,
  bucket: s3env.S3_TEST_BUCKET || 'tus-test',
};
const s3Pids = () => {
  const dir = s3env.S3_TEST_SWIFT_PIDS_DIR;
  if (!dir) return [];
  return ['proxy-plain', 'account', 'container', 'object', 'memcached'].flatMap((n) => {
    try {
      return tree(Number(readFileSync(join(dir, `${n}.pid`), 'utf8')));
    } catch {
      return [];
    }
  });
};
const client = new S3Client({
  endpoint: S3.endpoint,
  region: S3.region,
  forcePathStyle: true,
  credentials: { accessKeyId: S3.key, secretAccessKey: S3.secret },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  requestHandler: new NodeHttpHandler({ httpAgent: new http.Agent({ keepAlive: true, maxSockets: 64 }) }),
});

// ---- Bytes: a fast seeded generator, never whole in memory ---------------------------------
const POOL = (() => {
  const pool = Buffer.allocUnsafe(16 * MiB);
  let x = 0x9e3779b9;
  for (let i = 0; i < pool.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    pool.writeUInt32LE(x >>> 0, i);
  }
  return pool;
})();
const BLOCK = MiB;
/** Block `k` of stream `seed`: a pool slice stamped with (seed, k), so no two blocks are equal. */
function block(seed, k, length = BLOCK) {
  const out = Buffer.allocUnsafe(length);
  const off = ((k * 7919 + seed * 104729) % 15) * MiB;
  POOL.copy(out, 0, off, off + length);
  if (length >= 16) {
    out.writeUInt32LE(seed, 0);
    out.writeUInt32LE(k, 4);
  }
  return out;
}
/** Bytes [start, end) of stream `seed`, in blocks. */
function* bytes(seed, start, end) {
  for (let pos = start; pos < end; ) {
    const k = Math.floor(pos / BLOCK);
    const b = block(seed, k, BLOCK);
    const from = pos - k * BLOCK;
    const to = Math.min(BLOCK, end - k * BLOCK);
    yield from === 0 && to === BLOCK ? b : b.subarray(from, to);
    pos = k * BLOCK + to;
  }
}
const digests = new Map();
function expectedSha(seed, size) {
  const key = `${seed}:${size}`;
  if (!digests.has(key)) {
    const h = createHash('sha256');
    for (const b of bytes(seed, 0, size)) h.update(b);
    digests.set(key, h.digest('hex'));
  }
  return digests.get(key);
}

// ---- A minimal streaming tus client ----------------------------------------------------------
/** The size of the client's body writes in the current run (undefined: 1 MiB blocks as they come; see body-writer.mjs). */
let pieceSize;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function request(url, method, headers, body) {
  return new Promise((resolvePromise, reject) => {
    let sentAt;
    const req = http.request(url, { method, headers: { 'Tus-Resumable': '1.0.0', ...headers }, agent }, (res) => {
      res.resume();
      res.on('end', () => {
        // How long the server took to answer once the whole body was sent: for a PATCH, the
        // time to make its bytes durable in S3.
        res.waitAfterBodyMs = sentAt === undefined ? 0 : performance.now() - sentAt;
        resolvePromise(res);
      });
    });
    req.on('finish', () => {
      sentAt = performance.now();
    });
    req.on('error', reject);
    if (!body) return req.end();
    (async () => {
      await writeBody(req, body, pieceSize);
      req.end();
    })().catch(reject);
  });
}
async function create(base, size, { deferred = false, seed } = {}) {
  const headers = deferred ? { 'Upload-Defer-Length': '1' } : { 'Upload-Length': String(size) };
  if (seed !== undefined) {
    // creation-with-upload, as tus-js-client does with uploadDataDuringCreation
    const res = await request(
      `${base}/files/`,
      'POST',
      { ...headers, 'Content-Type': 'application/offset+octet-stream', 'Content-Length': String(size) },
      bytes(seed, 0, size),
    );
    if (res.statusCode !== 201 || Number(res.headers['upload-offset']) !== size) throw new Error(`POST with body: ${res.statusCode}`);
    return new URL(res.headers.location, base).toString();
  }
  const res = await request(`${base}/files/`, 'POST', headers);
  if (res.statusCode !== 201) throw new Error(`POST: ${res.statusCode}`);
  return new URL(res.headers.location, base).toString();
}
async function patch(url, seed, start, end, extra = {}) {
  const res = await request(
    url,
    'PATCH',
    { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(start), 'Content-Length': String(end - start), ...extra },
    bytes(seed, start, end),
  );
  if (res.statusCode !== 204 || Number(res.headers['upload-offset']) !== end) throw new Error(`PATCH ${start}-${end}: ${res.statusCode}`);
  if (end > start) patchWaits.push(res.waitAfterBodyMs);
}
/** Per PATCH of the current run: ms from the last body byte sent to the response. */
let patchWaits = [];
async function tusUpload(base, seed, size, { patchSize = size, deferred = false } = {}) {
  const url = await create(base, size, { deferred });
  for (let pos = 0; pos < size; pos += patchSize) await patch(url, seed, pos, Math.min(size, pos + patchSize));
  if (deferred) await patch(url, seed, size, size, { 'Upload-Length': String(size) });
  return url.split('/').pop();
}

// ---- The ceiling: straight to S3 with the SDK ------------------------------------------------
async function pool(tasks, concurrency) {
  const results = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]();
      }
    }),
  );
  return results;
}
async function directMultipart(uploads, partSize, inFlight) {
  const created = await Promise.all(
    uploads.map(async ({ key }) => (await client.send(new CreateMultipartUploadCommand({ Bucket: S3.bucket, Key: key }))).UploadId),
  );
  const tasks = [];
  uploads.forEach(({ seed, size, key }, u) => {
    for (let n = 1, pos = 0; pos < size; n++, pos += partSize) {
      const end = Math.min(size, pos + partSize);
      tasks.push(async () => {
        const body = Buffer.concat([...bytes(seed, pos, end)], end - pos);
        const res = await client.send(
          new UploadPartCommand({
            Bucket: S3.bucket,
            Key: key,
            UploadId: created[u],
            PartNumber: n,
            Body: body,
            ContentLength: body.length,
          }),
        );
        return { u, PartNumber: n, ETag: res.ETag };
      });
    }
  });
  const parts = await pool(tasks, inFlight);
  await Promise.all(
    uploads.map(({ key }, u) =>
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket: S3.bucket,
          Key: key,
          UploadId: created[u],
          MultipartUpload: { Parts: parts.filter((p) => p.u === u).map(({ PartNumber, ETag }) => ({ PartNumber, ETag })) },
        }),
      ),
    ),
  );
}

// ---- Servers ----------------------------------------------------------------------------------
const TMP = join(ROOT, 'bench/.tmp');
/** A port nobody listens on (a random one once collided with the peer's, and ours measured the peer). */
async function freePort() {
  const probe = net.createServer();
  await new Promise((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address();
  await new Promise((r) => probe.close(r));
  return port;
}
/** The servers running, stopped if the bench dies (a failed run once left them all behind). */
const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGTERM');
});
async function startServer(name, command, env, node = process.execPath) {
  const tmp = join(TMP, name);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const port = await freePort();
  const child = spawn(node, command, {
    env: { PATH: process.env.PATH, TMPDIR: tmp, PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let err = '';
  // The server's log, bench/.tmp/<name>.log (removed with bench/.tmp when the run ends).
  const log = createWriteStream(join(TMP, `${name}.log`));
  child.stderr.on('data', (d) => {
    if (err.length < 100_000) err += d;
    log.write(d);
  });
  child.stdout.pipe(log);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${err}`);
    try {
      await request(`${base}/files/`, 'OPTIONS', {});
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  if (child.exitCode !== null) throw new Error(`${name} exited: ${err}`);
  const stop = async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  };
  return { name, base, child, tmp, stop };
}
const s3Settings = { S3_ENDPOINT: S3.endpoint, S3_REGION: S3.region, S3_KEY: S3.key, S3_SECRET: S3.secret, S3_BUCKET: S3.bucket };
const oursEnv = (chunk) => ({
  STORAGE_LOCATIONS: 's3',
  STORAGE_S3_DRIVER: 's3',
  STORAGE_S3_BUCKET: S3.bucket,
  STORAGE_S3_REGION: S3.region,
  STORAGE_S3_KEY: S3.key,
  STORAGE_S3_SECRET: S3.secret,
  STORAGE_S3_ENDPOINT: S3.endpoint,
  STORAGE_S3_FORCE_PATH_STYLE: 'true',
  STORAGE_S3_ROOT: 'bench/ours/',
  STORAGE_S3_TUS__CHUNK_SIZE: String(chunk),
  LOG_LEVEL: 'warn',
  // BENCH_OURS_<NAME>=value passes <NAME>=value to our server (for trying settings).
  ...Object.fromEntries(
    Object.entries(process.env)
      .filter(([k]) => k.startsWith('BENCH_OURS_'))
      .map(([k, v]) => [k.slice('BENCH_OURS_'.length), v]),
  ),
});

// The floor (bench/floor-server.mjs): parts of the chunk size, 16 in flight, objects under
// bench/floor/; under the same Node flags as ours (SERVER_NODE_FLAGS), so their memory compares.
const floorEnv = (chunk) => ({ ...s3Settings, FLOOR_PART_SIZE: String(chunk), FLOOR_IN_FLIGHT: '16', FLOOR_ROOT: 'bench/floor/' });
const startFloor = (name, chunk) => startServer(name, [...SERVER_NODE_FLAGS, join(ROOT, 'bench/floor-server.mjs')], floorEnv(chunk));

// ---- Scenarios --------------------------------------------------------------------------------
/** Scenario (a), (b), (c) or (e) with `size` bytes in all (the groups use other sizes than BIG). */
const scenarioOf = (id, size) =>
  ({
    a: { id: 'a', title: `one ${size / MiB} MiB upload, single PATCH`, uploads: 1, size },
    b: { id: 'b', title: `one ${size / MiB} MiB upload, 16 MiB PATCHes`, uploads: 1, size, patchSize: 16 * MiB },
    c: { id: 'c', title: `8 concurrent ${size / 8 / MiB} MiB uploads`, uploads: 8, size: size / 8, concurrent: 8 },
    e: { id: 'e', title: `one ${size / MiB} MiB deferred-length upload`, uploads: 1, size, deferred: true },
  })[id];
const SCENARIOS = [
  scenarioOf('a', BIG),
  scenarioOf('b', BIG),
  scenarioOf('c', BIG),
  {
    id: 'd',
    title: `${QUICK ? 100 : 500} uploads of 100 KiB, 16 at a time`,
    uploads: QUICK ? 100 : 500,
    size: 100 * 1024,
    concurrent: 16,
    small: true,
  },
  scenarioOf('e', BIG),
  {
    // (d) as tus-js-client sends it with uploadDataDuringCreation: one POST with the bytes.
    id: 'd-tjc',
    title: `${QUICK ? 100 : 500} uploads of 100 KiB, 16 at a time, tus-js-client with uploadDataDuringCreation`,
    uploads: QUICK ? 100 : 500,
    size: 100 * 1024,
    concurrent: 16,
    small: true,
    tusJsClient: true,
  },
].filter((s) => ONLY.length === 0 || ONLY.includes(s.id));

// BENCH_NODE_ARGS: extra node options for our server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
// Our server runs with its own Node flags (scripts/runtime.mjs), as `npm start` and the image run
// it; BENCH_NODE_ARGS replaces them (BENCH_NODE_ARGS= runs without any).
const nodeArgs =
  process.env.BENCH_NODE_ARGS === undefined ? [...SERVER_NODE_FLAGS] : process.env.BENCH_NODE_ARGS.split(' ').filter(Boolean);

// BENCH_COMPARE=<git revision>: our server as it was at that revision, built in a worktree of
// its own, runs as one more base target ("ours@<rev>"), interleaved with the others: a
// regression check of a change against the code before it, on the same machine and run.
const COMPARE = process.env.BENCH_COMPARE;
// BENCH_VARIANT="NAME=value,..." (server variables) and/or BENCH_VARIANT_NODE_ARGS="..." (Node flags
// added to ours): our server with these settings as one more base target, "ours (variant)",
// interleaved with the others, so that a setting's effect is measured in one run.
const VARIANT_ENV = Object.fromEntries(
  (process.env.BENCH_VARIANT ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split(/=(.*)/s).slice(0, 2)),
);
const VARIANT_ARGS = (process.env.BENCH_VARIANT_NODE_ARGS ?? '').split(' ').filter(Boolean);
const VARIANT_NAME =
  process.env.BENCH_VARIANT !== undefined || process.env.BENCH_VARIANT_NODE_ARGS !== undefined ? 'ours (variant)' : undefined;

const COMPARE_NAME = COMPARE ? `ours@${COMPARE}` : undefined;
/** Our own servers' extra targets, compared with ours after the table. */
const OURS_TOO = [COMPARE_NAME, VARIANT_NAME].filter(Boolean);
function buildCompared() {
  const sha = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', COMPARE], { encoding: 'utf8' }).trim();
  const dir = join(TMP, `compare-${sha}`);
  rmSync(dir, { recursive: true, force: true });
  execFileSync('git', ['-C', ROOT, 'worktree', 'prune']);
  execFileSync('git', ['-C', ROOT, 'worktree', 'add', '--force', '--detach', dir, COMPARE], { stdio: ['ignore', 'ignore', 'inherit'] });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  return {
    main: join(dir, 'dist/main.js'),
    remove: () => execFileSync('git', ['-C', ROOT, 'worktree', 'remove', '--force', dir]),
  };
}

let runNumber = 0;
/** One timed run of one target; returns seconds, samples and the objects to verify. */
async function runTarget(target, scenario, partSize) {
  const run = ++runNumber;
  const seeds = Array.from({ length: scenario.uploads }, (_, i) => run * 1000 + i);
  // `servers`: the processes of a target made of several instances (--cluster), summed for CPU.
  const servers = target.servers ?? (target.server ? [target.server] : []);
  const pids = servers.flatMap((s) => tree(s.child.pid));
  const s3Before = cpuSeconds(s3Pids());
  const ownCpu = () => process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6;
  const clientBefore = ownCpu();
  const cpuBefore = servers.length ? cpuSeconds(pids) : clientBefore;
  const readsBefore = readCalls(pids);
  const samples = servers.length ? servers.map((s) => sampler(s.child.pid, s.tmp)) : [sampler()];
  patchWaits = [];
  pieceSize = target.pieceSize;
  const started = process.hrtime.bigint();
  let keys;
  if (target.name === 'ceiling') {
    // The raw ceiling (bench/raw-s3.mjs), through target.endpoint (the latency proxy) if given.
    keys = seeds.map((seed) => `bench/ceiling/${seed}`);
    const raw = rawS3({ ...S3, endpoint: target.endpoint ?? S3.endpoint });
    if (scenario.small) {
      await pool(
        seeds.map((seed, i) => () => raw.put(keys[i], bytes(seed, 0, scenario.size), scenario.size)),
        scenario.concurrent,
      );
    } else {
      await rawMultipart(
        raw,
        seeds.map((seed, i) => ({ key: keys[i], size: scenario.size, body: (start, end) => bytes(seed, start, end) })),
        await ceilingPartSize(scenario, partSize),
        target.inFlight,
      );
    }
    raw.close();
  } else if (target.name === 'ceiling (SDK)') {
    keys = seeds.map((seed) => `bench/ceiling/${seed}`);
    if (scenario.small) {
      await pool(
        seeds.map(
          (seed, i) => () =>
            client.send(new PutObjectCommand({ Bucket: S3.bucket, Key: keys[i], Body: Buffer.concat([...bytes(seed, 0, scenario.size)]) })),
        ),
        scenario.concurrent,
      );
    } else {
      await directMultipart(
        seeds.map((seed, i) => ({ seed, size: scenario.size, key: keys[i] })),
        await ceilingPartSize(scenario, partSize),
        target.inFlight,
      );
    }
  } else {
    const base = target.base ?? target.server.base;
    const one = (seed) =>
      scenario.tusJsClient
        ? tusJsClientUpload(base, Buffer.concat([...bytes(seed, 0, scenario.size)])).then((url) => url.split('/').pop())
        : scenario.small
          ? create(base, scenario.size, { seed }).then((url) => url.split('/').pop())
          : tusUpload(base, seed, scenario.size, { patchSize: scenario.patchSize ?? scenario.size, deferred: scenario.deferred });
    const ids = await pool(
      seeds.map((seed) => () => one(seed)),
      scenario.concurrent ?? 1,
    );
    keys = ids.map((id) => (target.name === 'peer' ? id : target.name === 'floor' ? `bench/floor/${id}` : `bench/ours/${id}`));
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const peaks = samples.map((s) => s.stop());
  // Per instance: the largest of the instances' own peaks.
  const peakRss = Math.max(...peaks.map((p) => p.peakRss));
  const peakDisk = Math.max(...peaks.map((p) => p.peakDisk));
  const clientAfter = ownCpu();
  const cpuAfter = servers.length ? cpuSeconds(pids) : clientAfter;
  const reads = readCalls(pids) - readsBefore;
  const waits = patchWaits.length ? median(patchWaits) : undefined;
  return {
    seconds,
    cpu: cpuAfter - cpuBefore,
    clientCpu: clientAfter - clientBefore,
    s3cpu: cpuSeconds(s3Pids()) - s3Before,
    reads,
    peakRss,
    peakDisk,
    seeds,
    keys,
    waits,
  };
}

/** One whole small file with tus-js-client in Node, its bytes in the creation POST; resolves the upload URL. */
async function tusJsClientUpload(base, data) {
  const { Upload } = await import('tus-js-client');
  return new Promise((resolve, reject) => {
    const upload = new Upload(data, {
      endpoint: `${base}/files/`,
      uploadDataDuringCreation: true,
      storeFingerprintForResuming: false,
      retryDelays: [],
      metadata: { filename: 'bench.bin' },
      onError: reject,
      onSuccess: () => resolve(upload.url),
    });
    upload.start();
  });
}

/** The same part size as ours: the store's own plan (deferred lengths start at 6 MiB). */
async function ceilingPartSize(scenario, partSize) {
  const { planParts } = await import(join(ROOT, 'dist/stores/s3/part-size.js'));
  return planParts({ size: scenario.deferred ? undefined : scenario.size, preferred: partSize, equalParts: false, maxUploadSize: 0 }).base;
}

/**
 * The fastest of a ceiling `name` ('ceiling': raw, 'ceiling (SDK)') over parts in flight `counts`,
 * each verified; its result gets `inFlight` and `verified`.
 */
async function bestCeiling(name, scenario, chunk, counts, extra = {}) {
  let best;
  let verified = true;
  for (const inFlight of scenario.small ? [counts[0]] : counts) {
    const result = await runTarget({ name, inFlight, ...extra }, scenario, chunk);
    verified &&= await verifyAndClean(result, scenario.size);
    result.inFlight = inFlight;
    if (!best || result.seconds < best.seconds) best = result;
  }
  best.verified = verified;
  return best;
}

async function verifyAndClean(result, size, extraKeys = []) {
  let ok = true;
  await pool(
    result.keys.map((key, i) => async () => {
      const res = await client.send(new GetObjectCommand({ Bucket: S3.bucket, Key: key }));
      const h = createHash('sha256');
      let n = 0;
      for await (const c of res.Body) {
        h.update(c);
        n += c.length;
      }
      if (n !== size || h.digest('hex') !== expectedSha(result.seeds[i], size)) ok = false;
      for (const k of [key, `${key}.info`, ...extraKeys])
        await client.send(new DeleteObjectCommand({ Bucket: S3.bucket, Key: k })).catch(() => {});
    }),
    8,
  );
  return ok;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Medians (and peaks) of the runs of one target over `totalBytes` per run. */
function summarize(rs, scenario, verified) {
  const totalBytes = scenario.size * scenario.uploads;
  const seconds = median(rs.map((x) => x.seconds));
  return {
    mibPerSecond: totalBytes / MiB / seconds,
    uploadsPerSecond: scenario.uploads / seconds,
    seconds,
    cpuSecondsPerGiB: median(rs.map((x) => x.cpu)) / (totalBytes / GiB),
    s3CpuSecondsPerGiB: median(rs.map((x) => x.s3cpu)) / (totalBytes / GiB),
    clientCpuSecondsPerGiB: median(rs.map((x) => x.clientCpu)) / (totalBytes / GiB),
    // The server's read(2) calls per MiB uploaded (client and S3 sockets, files): how finely the body arrives.
    readsPerMiB: median(rs.map((x) => x.reads ?? 0)) / (totalBytes / MiB),
    peakRssMiB: Math.max(...rs.map((x) => x.peakRss)) / MiB,
    peakTempMiB: Math.max(...rs.map((x) => x.peakDisk)) / MiB,
    verified,
    runs: rs.map((x) => x.seconds),
    inFlight: rs.map((x) => x.inFlight).filter(Boolean),
    patchWaitMs: rs.some((x) => x.waits !== undefined) ? median(rs.map((x) => x.waits ?? 0)) : undefined,
  };
}

/** Parts in flight tried for the raw ceiling: the first run tries all, later runs the first run's winner. */
const CEILING_IN_FLIGHT = [8, 16, 32];
const SDK_IN_FLIGHT = [8, 16];

async function main() {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  // BENCH_CHUNKS_MIB=5 (or 5,16) picks the chunk sizes of the base rows.
  const chunkSizes = process.env.BENCH_CHUNKS_MIB
    ? process.env.BENCH_CHUNKS_MIB.split(',').map((n) => Number(n) * MiB)
    : QUICK
      ? [5 * MiB]
      : [5 * MiB, 16 * MiB];
  const started = Date.now();
  const rows = [];
  const compared = COMPARE && GROUPS.includes('base') ? buildCompared() : undefined;
  const servers = GROUPS.includes('base')
    ? ['peer', 'ours', 'floor', ...(compared ? [COMPARE_NAME] : []), ...(VARIANT_NAME ? [VARIANT_NAME] : [])]
    : [];
  const baseWanted = GROUPS.includes('base') || GROUPS.includes('ceiling');
  /** The raw ceiling's winning parts in flight per scenario and chunk, for the groups that follow. */
  const ceilingWinners = new Map();
  const peer = servers.length ? await startServer('peer', [join(ROOT, 'bench/peer-server.mjs')], s3Settings) : undefined;
  for (const chunk of baseWanted ? chunkSizes : []) {
    const ours = servers.length ? await startServer('ours', [...nodeArgs, join(ROOT, 'dist/main.js')], oursEnv(chunk)) : undefined;
    const then = compared ? await startServer('compared', [...nodeArgs, compared.main], oursEnv(chunk)) : undefined;
    const floor = servers.length ? await startFloor('floor', chunk) : undefined;
    const variant = VARIANT_NAME
      ? await startServer('variant', [...nodeArgs, ...VARIANT_ARGS, join(ROOT, 'dist/main.js')], { ...oursEnv(chunk), ...VARIANT_ENV })
      : undefined;
    for (const scenario of SCENARIOS) {
      if (chunk !== chunkSizes[0] && !['a', 'b', 'c'].includes(scenario.id)) continue;
      const names = ['ceiling', 'ceiling (SDK)', ...servers];
      const results = Object.fromEntries(names.map((n) => [n, []]));
      const verified = Object.fromEntries(names.map((n) => [n, true]));
      // (b)'s direct upload is (a)'s (no PATCHes): it starts from (a)'s winner.
      let rawCounts = (scenario.id === 'b' && ceilingWinners.has(`a:${chunk}`) && [ceilingWinners.get(`a:${chunk}`)]) || CEILING_IN_FLIGHT;
      const sdkCounts = SDK_IN_FLIGHT;
      for (let r = 0; r < RUNS; r++) {
        // Interleaved A B C D so that the machine's drift hits every target alike.
        for (const name of names) {
          let result;
          if (name === 'ceiling') {
            result = await bestCeiling(name, scenario, chunk, rawCounts);
            rawCounts = [result.inFlight];
          } else if (name === 'ceiling (SDK)') {
            // A reference row: measured in the first run only.
            if (r > 0) continue;
            result = await bestCeiling(name, scenario, chunk, sdkCounts);
          } else {
            const server = { peer, ours, floor }[name] ?? (name === VARIANT_NAME ? variant : then);
            result = await runTarget({ name, server }, scenario, chunk);
            result.verified = await verifyAndClean(result, scenario.size);
          }
          verified[name] &&= result.verified;
          results[name].push(result);
          process.stderr.write(
            `  ${scenario.id} chunk ${chunk / MiB} MiB run ${r + 1} ${name}${result.inFlight ? ` (${result.inFlight} in flight)` : ''}: ${result.seconds.toFixed(2)} s\n`,
          );
        }
      }
      ceilingWinners.set(`${scenario.id}:${chunk}`, rawCounts[0]);
      const summary = Object.fromEntries(names.map((n) => [n, summarize(results[n], scenario, verified[n])]));
      rows.push({ scenario: scenario.id, title: scenario.title, chunkMiB: chunk / MiB, ...summary });
    }
    await ours?.stop();
    await then?.stop();
    await variant?.stop();
    await floor?.stop();
  }
  await peer?.stop();
  compared?.remove();
  // The groups of issue 15: client write sizes, S3 across a network, memory (bench/groups.mjs).
  const groups = await runGroups(GROUPS, {
    BIG,
    QUICK,
    S3,
    ONLY,
    scenarioOf,
    RUNS,
    MiB,
    GiB,
    ceilingWinners,
    CEILING_IN_FLIGHT,
    bestCeiling,
    runTarget,
    verifyAndClean,
    summarize,
    startServer: (name, env, node) => startServer(name, [...nodeArgs, join(ROOT, 'dist/main.js')], env, node),
    startPeer: (name, env) => startServer(name, [join(ROOT, 'bench/peer-server.mjs')], { ...s3Settings, ...env }),
    startFloor,
    oursEnv,
  });
  rmSync(TMP, { recursive: true, force: true });
  report(rows, groups, (Date.now() - started) / 1000);
  process.exit(0);
}

function report(rows, groups, seconds) {
  const pct = (x) => `${(x * 100).toFixed(0)}%`;
  const targets = ['ceiling', 'ceiling (SDK)', 'peer', 'ours', 'floor', ...OURS_TOO];
  /** Throughput of `r` in `row` (uploads/s for (d), else MiB/s). */
  const rateOf = (row, r) => (row.scenario.startsWith('d') ? r.uploadsPerSecond : r.mibPerSecond);
  const lines = [];
  if (rows.length) {
    lines.push(
      '### Base: (a)-(e) against the raw ceiling',
      '',
      `| scen. | chunk | target | ${'MiB/s'.padStart(7)} | of ceiling | of floor | ours/peer | server RSS MiB | server CPU s/GiB | temp MiB | S3 CPU s/GiB | PATCH wait ms | verified |`,
      '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    );
  }
  for (const row of rows) {
    for (const name of targets) {
      const r = row[name];
      if (!r) continue;
      const rate = row.scenario.startsWith('d') ? `${r.uploadsPerSecond.toFixed(1)}/s` : r.mibPerSecond.toFixed(0);
      const ratio = rateOf(row, r) / rateOf(row, row.ceiling);
      const vsPeer =
        (name === 'ours' || OURS_TOO.includes(name)) && row.peer ? `${(rateOf(row, r) / rateOf(row, row.peer)).toFixed(2)}x` : '';
      const server = !name.startsWith('ceiling');
      const ofFloor = server && row.floor ? pct(rateOf(row, r) / rateOf(row, row.floor)) : '';
      const label =
        name.startsWith('ceiling') && r.inFlight.length && !row.scenario.startsWith('d') ? `${name}, ${r.inFlight[0]} in flight` : name;
      lines.push(
        `| ${row.scenario} | ${row.chunkMiB} MiB | ${label} | ${rate} | ${pct(ratio)} | ${ofFloor} | ${vsPeer} | ${server ? r.peakRssMiB.toFixed(0) : '-'} | ${server ? r.cpuSecondsPerGiB.toFixed(2) : `(${r.cpuSecondsPerGiB.toFixed(2)} client)`} | ${server ? r.peakTempMiB.toFixed(0) : '-'} | ${r.s3CpuSecondsPerGiB.toFixed(2)} | ${r.patchWaitMs === undefined ? '-' : r.patchWaitMs.toFixed(0)} | ${r.verified ? 'yes' : 'NO'} |`,
      );
    }
  }
  // The machine's CPU budget: client + server + S3 CPU per GiB, and the MiB/s that all cores
  // busy with it would allow. When the cores are saturated, this is what bounds each target.
  const budget = rows
    .filter((row) => !row.scenario.startsWith('d'))
    .map((row) => {
      const parts = targets
        .filter((name) => row[name])
        .map((name) => {
          const r = row[name];
          const server = name.startsWith('ceiling') ? 0 : r.cpuSecondsPerGiB;
          const total = r.clientCpuSecondsPerGiB + server + r.s3CpuSecondsPerGiB;
          return `${name} ${r.clientCpuSecondsPerGiB.toFixed(1)}+${server.toFixed(1)}+${r.s3CpuSecondsPerGiB.toFixed(1)}=${total.toFixed(1)} (${((cpus().length * 1024) / total).toFixed(0)} MiB/s)`;
        });
      return `- (${row.scenario}) ${row.chunkMiB} MiB: ${parts.join('; ')}`;
    });
  // Ours against the floor, the least a correct Node relay does on this machine.
  const vsFloor = rows
    .filter((row) => row.ours && row.floor)
    .map((row) => {
      const [ours, floor] = [row.ours, row.floor];
      return `- (${row.scenario}) ${row.chunkMiB} MiB: throughput ${(rateOf(row, ours) / rateOf(row, floor)).toFixed(2)}x, server CPU per GiB ${(ours.cpuSecondsPerGiB / floor.cpuSecondsPerGiB).toFixed(2)}x (${ours.cpuSecondsPerGiB.toFixed(2)} vs ${floor.cpuSecondsPerGiB.toFixed(2)} s/GiB), peak RSS ours ${ours.peakRssMiB.toFixed(0)} MiB, floor ${floor.peakRssMiB.toFixed(0)} MiB`;
    });
  if (vsFloor.length)
    lines.push(
      '',
      'ours against the floor (bench/floor-server.mjs, the same run; throughput below 1x and CPU above 1x: what ours costs beyond the floor):',
      ...vsFloor,
    );
  if (budget.length) lines.push('', 'CPU s/GiB, client + server + S3 (the MiB/s all cores busy with it would allow):', ...budget);
  for (const other of OURS_TOO) {
    const ratios = rows
      .filter((row) => row.ours && row[other])
      .map((row) => {
        const [now, then] = [row.ours, row[other]];
        const rate = row.scenario.startsWith('d') ? now.uploadsPerSecond / then.uploadsPerSecond : now.mibPerSecond / then.mibPerSecond;
        return `- (${row.scenario}) ${row.chunkMiB} MiB: throughput ${rate.toFixed(2)}x, server CPU per GiB ${(now.cpuSecondsPerGiB / then.cpuSecondsPerGiB).toFixed(2)}x, peak RSS ${(now.peakRssMiB / then.peakRssMiB).toFixed(2)}x`;
      });
    const what = other === VARIANT_NAME ? `${process.env.BENCH_VARIANT ?? ''} ${VARIANT_ARGS.join(' ')}`.trim() : other;
    lines.push('', `ours against ${other} (${what}; the same run; above 1x: more throughput, more CPU, more memory in ours):`, ...ratios);
  }
  for (const group of groups) lines.push('', `### ${group.title}`, '', ...group.lines);
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / GiB).toFixed(0)} GiB, Node ${process.version}`;
  const runsNote = `base rows ${RUNS} run(s) per target (median), ${groups.map((g) => `${g.id} ${g.runs} run(s)`).join(', ') || 'no other groups'}`;
  const header = `tus-s3-server benchmark, ${new Date().toISOString()}, ${machine}, ${QUICK ? 'quick' : 'full'} (${runsNote}), groups ${GROUPS.join(',')}, S3: ${S3.endpoint}, ${seconds.toFixed(0)} s`;
  const scenarios = [...new Map(rows.map((r) => [r.scenario, r.title])).entries()].map(([id, title]) => `(${id}) ${title}`).join('; ');
  const ceilingNote =
    'ceiling: raw SigV4 requests (UNSIGNED-PAYLOAD, keep-alive, bench/raw-s3.mjs), the best of 8/16/32 parts in flight (the first run tries all three, later runs its winner); ceiling (SDK): @aws-sdk/client-s3, best of 8/16, first run only (a reference); "of ceiling" is against the raw one.';
  const floorNote =
    'floor: bench/floor-server.mjs, the least a correct Node tus-to-S3 relay does (node:http, raw SigV4 parts of the chunk size 16 in flight, no hashing, no disk, the remainder stored as an object, answers once S3 holds every byte); "of floor" is against it.';
  const text = `${header}\n${rows.length ? `${scenarios}\n${ceilingNote}\n${rows.some((r) => r.floor) ? `${floorNote}\n` : ''}` : ''}\n${lines.join('\n')}\n`;
  process.stdout.write(text);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(
    join(ROOT, `bench/results/${stamp}${QUICK ? '-quick' : ''}.json`),
    `${JSON.stringify({ header, machine, quick: QUICK, runs: RUNS, groups: GROUPS, rows, groupRows: groups.map(({ id, runs, rows: r }) => ({ id, runs, rows: r })) }, null, 2)}\n`,
  );
  // Only a complete default run replaces latest.md (the table docs/performance.md quotes).
  const partial =
    ONLY.length > 0 ||
    process.env.BENCH_SIZE_MIB ||
    ALL_GROUPS.some((g) => !GROUPS.includes(g)) ||
    Object.keys(process.env).some((k) => k.startsWith('BENCH_OURS_')) ||
    COMPARE !== undefined ||
    VARIANT_NAME !== undefined ||
    process.env.BENCH_CHUNKS_MIB !== undefined;
  writeFileSync(join(ROOT, `bench/results/latest${QUICK ? '-quick' : partial ? '-partial' : ''}.md`), text);
}

// ---- --cluster: scenario (c) against one instance and against two behind HAProxy + Redis --------
/** A bash script of scripts/ with extra environment; its stdout. */
const script = (name, scriptArgs, env) =>
  execFileSync('bash', [join(ROOT, 'scripts', name), ...scriptArgs], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
const pidOf = (file) => {
  try {
    return Number(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
};

async function clusterMain() {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const scenario =
    SCENARIOS.find((s) => s.id === 'c') ??
    (() => {
      throw new Error('--cluster runs scenario (c): drop --only');
    })();
  const chunk = 5 * MiB;
  mkdirSync(TMP, { recursive: true });
  // Redis for the bench: its own directory, port and random password; stopped at the end.
  const redisEnv = {
    REDIS_TEST_DIR: join(TMP, 'redis'),
    REDIS_TEST_PORT: String(await freePort()),
    REDIS_TEST_PASSWORD: randomBytes(18).toString('hex'),
  };
  const haproxyEnv = { HAPROXY_TEST_DIR: join(TMP, 'haproxy') };
  const started = Date.now();
  const running = [];
  let redisStarted = false;
  let haproxyStarted = false;
  try {
    script('redis-server.sh', ['start'], redisEnv);
    redisStarted = true;
    const REDIS = `redis://:${redisEnv.REDIS_TEST_PASSWORD}@127.0.0.1:${redisEnv.REDIS_TEST_PORT}/0`;
    const dist = [...nodeArgs, join(ROOT, 'dist/main.js')];
    const one = await startServer('one', dist, oursEnv(chunk));
    running.push(one);
    const pair = [
      await startServer('pair-1', dist, { ...oursEnv(chunk), REDIS }),
      await startServer('pair-2', dist, { ...oursEnv(chunk), REDIS }),
    ];
    running.push(...pair);
    // HAProxy with docker/haproxy.cfg (round robin, bodies streamed, /readyz checks), through
    // scripts/haproxy.sh, which replaces only the bind address and Docker's DNS.
    const lbPort = await freePort();
    const lb = script('haproxy.sh', ['start', String(lbPort), ...pair.map((s) => s.base.replace('http://', ''))], haproxyEnv);
    haproxyStarted = true;
    const haproxyLog = join(haproxyEnv.HAPROXY_TEST_DIR, 'haproxy.log');
    const perInstance = () => {
      const counts = { 'tus-1': 0, 'tus-2': 0 };
      for (const m of readFileSync(haproxyLog, 'utf8').matchAll(/ instances\/(tus-\d+) /g)) counts[m[1]] = (counts[m[1]] ?? 0) + 1;
      return counts;
    };
    // Both instances must pass HAProxy's /readyz check before the first run.
    for (
      let i = 0;
      i < 100 &&
      !(await request(`${lb}/files/`, 'OPTIONS', {}).then(
        (r) => r.statusCode === 204 || r.statusCode === 200,
        () => false,
      ));
      i++
    )
      await new Promise((r) => setTimeout(r, 100));
    const helpers = () => [pidOf(join(haproxyEnv.HAPROXY_TEST_DIR, 'haproxy.pid')), pidOf(join(redisEnv.REDIS_TEST_DIR, 'redis.pid'))];

    const results = { one: [], two: [] };
    const verified = { one: true, two: true };
    const requests = [];
    for (let r = 0; r < RUNS; r++) {
      // Interleaved, and the order alternates, so the machine's drift hits both alike.
      const targets = [
        { name: 'one', server: one },
        { name: 'two', servers: pair, base: lb },
      ];
      for (const target of r % 2 ? targets.reverse() : targets) {
        const [haproxyPid, redisPid] = helpers();
        const before = { haproxy: cpuSeconds([haproxyPid]), redis: cpuSeconds([redisPid]), counts: perInstance() };
        const result = await runTarget(target, scenario, chunk);
        result.haproxyCpu = cpuSeconds([haproxyPid]) - before.haproxy;
        result.redisCpu = cpuSeconds([redisPid]) - before.redis;
        if (target.name === 'two') {
          const after = perInstance();
          requests.push(Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - (before.counts[k] ?? 0)])));
        }
        verified[target.name] &&= await verifyAndClean(result, scenario.size);
        results[target.name].push(result);
        process.stderr.write(`  c cluster run ${r + 1} ${target.name}: ${result.seconds.toFixed(2)} s\n`);
      }
    }
    const totalBytes = scenario.size * scenario.uploads;
    const perGiB = (xs) => median(xs) / (totalBytes / GiB);
    const summary = {};
    for (const name of ['one', 'two']) {
      const rs = results[name];
      const seconds = median(rs.map((x) => x.seconds));
      summary[name] = {
        mibPerSecond: totalBytes / MiB / seconds,
        seconds,
        runs: rs.map((x) => x.seconds),
        cpuSecondsPerGiB: perGiB(rs.map((x) => x.cpu)),
        peakRssMiBPerInstance: Math.max(...rs.map((x) => x.peakRss)) / MiB,
        s3CpuSecondsPerGiB: perGiB(rs.map((x) => x.s3cpu)),
        clientCpuSecondsPerGiB: perGiB(rs.map((x) => x.clientCpu)),
        haproxyCpuSecondsPerGiB: perGiB(rs.map((x) => x.haproxyCpu)),
        redisCpuSecondsPerGiB: perGiB(rs.map((x) => x.redisCpu)),
        patchWaitMs: median(rs.map((x) => x.waits ?? 0)),
        verified: verified[name],
      };
    }
    const ratio = summary.two.mibPerSecond / summary.one.mibPerSecond;
    const row = (label, r, lbCpu) =>
      `| ${label} | ${r.mibPerSecond.toFixed(0)} | ${r.cpuSecondsPerGiB.toFixed(2)} | ${r.peakRssMiBPerInstance.toFixed(0)} | ${lbCpu} | ${r.s3CpuSecondsPerGiB.toFixed(2)} | ${r.patchWaitMs.toFixed(0)} | ${r.verified ? 'yes' : 'NO'} |`;
    const lines = [
      '| target | MiB/s | server CPU s/GiB (all instances) | peak RSS MiB per instance | HAProxy + Redis CPU s/GiB | S3 CPU s/GiB | PATCH wait ms | verified |',
      '|---|---:|---:|---:|---:|---:|---:|---|',
      row('one instance', summary.one, '-'),
      row(
        'two instances, HAProxy + Redis',
        summary.two,
        `${summary.two.haproxyCpuSecondsPerGiB.toFixed(2)} + ${summary.two.redisCpuSecondsPerGiB.toFixed(2)}`,
      ),
      '',
      `two/one: ${ratio.toFixed(2)}x (runs, s: one ${summary.one.runs.map((x) => x.toFixed(1)).join(', ')}; two ${summary.two.runs.map((x) => x.toFixed(1)).join(', ')})`,
      `requests per instance through HAProxy, per run: ${requests
        .map((c) =>
          Object.entries(c)
            .map(([k, v]) => `${k} ${v}`)
            .join(' / '),
        )
        .join('; ')}`,
    ];
    const seconds = (Date.now() - started) / 1000;
    const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / GiB).toFixed(0)} GiB, Node ${process.version}`;
    const header = `tus-s3-server cluster benchmark, ${new Date().toISOString()}, ${machine}, ${QUICK ? 'quick' : 'full'} (${RUNS} run(s) per target, median), S3: ${S3.endpoint}, ${seconds.toFixed(0)} s`;
    const what = `(c) ${scenario.title}, chunk ${chunk / MiB} MiB: one instance directly vs two instances (REDIS set) behind HAProxy (docker/haproxy.cfg, round robin), interleaved; all ${cpus().length} cores shared by every process`;
    const text = `${header}\n${what}\n\n${lines.join('\n')}\n`;
    process.stdout.write(text);
    mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    writeFileSync(
      join(ROOT, `bench/results/${stamp}-cluster${QUICK ? '-quick' : ''}.json`),
      `${JSON.stringify({ header, machine, quick: QUICK, runs: RUNS, scenario: 'c', chunkMiB: chunk / MiB, ratio, requests, ...summary }, null, 2)}\n`,
    );
    writeFileSync(join(ROOT, `bench/results/latest-cluster${QUICK ? '-quick' : ''}.md`), text);
  } finally {
    if (haproxyStarted) script('haproxy.sh', ['stop'], haproxyEnv);
    for (const s of running) await s.stop();
    if (redisStarted) script('redis-server.sh', ['stop'], redisEnv);
    rmSync(TMP, { recursive: true, force: true });
  }
  process.exit(0);
}

(args.includes('--cluster') ? clusterMain : main)().catch((error) => {
  console.error(error);
  process.exit(1);
});
