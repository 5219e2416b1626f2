/**
 * Server crashes (issue 14, item 3): the built server as its own process, killed with SIGKILL at
 * seeded random moments (after a random number of bytes of a PATCH were sent, and right after
 * the last byte of the completing PATCH), started again on the same root, and the upload
 * resumed with HEAD + PATCH: the offset never claims more than was sent nor less than was
 * acknowledged, the object is byte-exact, nothing is orphaned. A checksum spool a killed
 * process left in TUS_TEMP_DIR is removed when the next one starts.
 *
 * SEED=<n> replays a run (the seed is printed); KILLS (PATCH kills before the completion kill),
 * SIZE (bytes, or "64MiB") and COMPLETION_DELAY_MS (the completion kill lands up to this long
 * after the last byte was sent) make other runs.
 */
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import t, { type Test } from 'tap';
import { spoolHost } from '../../src/tus/spool-sweep.js';
import { createUpload, head, patch } from '../helpers/app.js';
import { sha256 } from '../helpers/bytes.js';
import { type ServerProcess, startProcess } from '../helpers/process.js';
import { patchRequest } from '../helpers/raw-request.js';
import { objectSha256, s3LocationEnv, s3TestServer, storedKeys, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { seeded, seededData, sizeFromEnv } from '../helpers/seeded.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const SEED = Number(process.env.SEED ?? randomInt(2 ** 31));
const KILLS = Number(process.env.KILLS ?? 2);
const SIZE = sizeFromEnv(process.env.SIZE, 12 * MiB + 77);
const COMPLETION_DELAY_MS = Number(process.env.COMPLETION_DELAY_MS ?? 300);
const server = s3TestServer();
const client = verifyClient(server);

/**
 * PATCH the rest of the upload from `offset`, and SIGKILL the server once `sent` bytes were
 * handed to the socket (all of them: the kill lands right after the last byte, during completion).
 */
async function patchThenKill(
  proc: ServerProcess,
  url: string,
  offset: number,
  rest: Uint8Array,
  sent: number,
  delayMs: number,
): Promise<void> {
  const req = patchRequest(url, offset, { 'Content-Length': String(rest.length) });
  // The request can end early (an answer, a closed connection): then the kill comes at once.
  const ended = new Promise<void>((resolve) => {
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.on('response', (res) => {
      res.resume();
      resolve();
    });
  });
  const step = 256 * 1024;
  let written = 0;
  while (written < sent) {
    const piece = rest.subarray(written, Math.min(sent, written + step));
    const stop = await Promise.race([
      new Promise<boolean>((resolve) => req.write(piece, () => resolve(false))),
      ended.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 15_000).unref()),
    ]);
    if (stop) break;
    written += piece.length;
  }
  if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  await proc.stop('SIGKILL');
  req.destroy();
}

t.test('SIGKILL during PATCHes and during completion: a new process resumes byte-exact, no tail or temp file left', async (t) => {
  const random = seeded(SEED);
  const data = seededData(random, SIZE);
  const root = uniqueRoot('crash');
  const tempDir = mkdtempSync(join(tmpdir(), 'tus-crash-temp-'));
  const env = s3LocationEnv(server, root, { TUS_TEMP_DIR: tempDir });
  let proc = await startProcess(env);
  t.teardown(() => proc.stop('SIGKILL'));
  const url0 = await createUpload(proc.url, data.length);
  const id = url0.split('/').pop() as string;
  const urlOf = (p: ServerProcess) => `${p.url}/files/${id}`;
  let acknowledged = 0;
  const log: string[] = [];
  for (let k = 0; k <= KILLS; k++) {
    const rest = data.subarray(acknowledged);
    // The last kill lands right after the last byte (completion); the others after a random count.
    // (after a seeded delay of up to COMPLETION_DELAY_MS, to land while the server stores the end).
    const last = k === KILLS;
    const sent = last ? rest.length : 1 + Math.floor(random() * (rest.length - 1));
    const delay = last ? Math.floor(random() * COMPLETION_DELAY_MS) : 0;
    await patchThenKill(proc, urlOf(proc), acknowledged, rest, sent, delay);
    proc = await startProcess(env);
    const res = await head(urlOf(proc));
    t.equal(res.status, 200, `kill ${k}: the new process knows the upload`);
    const offset = Number(res.headers.get('upload-offset'));
    log.push(`kill ${k}: from ${acknowledged} sent ${sent}${last ? ` +${delay} ms` : ''} -> HEAD ${offset}`);
    if (offset > acknowledged + sent || offset < acknowledged) {
      t.fail(`kill ${k}: HEAD offset ${offset} outside [${acknowledged}, ${acknowledged + sent}]`);
      break;
    }
    acknowledged = offset;
  }
  t.comment(`SEED=${SEED} KILLS=${KILLS} SIZE=${SIZE}; ${log.join('; ')}`);
  if (acknowledged < data.length) {
    const done = await patch(urlOf(proc), acknowledged, data.subarray(acknowledged));
    t.equal(done.status, 204, 'the rest completes from the HEAD offset');
    t.equal(done.headers.get('upload-offset'), String(data.length));
  }
  const final = await head(urlOf(proc));
  t.equal(final.headers.get('upload-offset'), String(data.length), 'HEAD: complete');
  t.same(await objectSha256(client, server.bucket, `${root}${id}`), { sha256: sha256(data), size: data.length }, 'byte-exact');
  t.same(await storedKeys(client, server.bucket, root), [`${root}${id}`, `${root}${id}.info`], 'no tail or other object left');
  // Kills between CreateMultipartUpload and the `.info` naming it left multipart uploads that
  // the completion aborted before it completed (so no later kill can leave them behind).
  const left = await client.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: root }));
  t.same(left.Uploads ?? [], [], 'no multipart upload left under the root');
  t.same(readdirSync(tempDir), [], 'TUS_TEMP_DIR is empty');
  t.equal(await proc.stop('SIGTERM'), 0);
});

t.test('a checksum spool left by a killed process is removed at start-up; nothing else is', async (t) => {
  const root = uniqueRoot('spool');
  const tempDir = mkdtempSync(join(tmpdir(), 'tus-crash-temp-'));
  const env = s3LocationEnv(server, root, { TUS_TEMP_DIR: tempDir });
  // Other programs' files, another host's spool, and a spool of a live process (this test runner).
  const keep = ['other-program.tmp', 'tus-checksum-elsewhere-1-abcdef', `tus-checksum-${spoolHost}-${process.pid}-live00`];
  writeFileSync(join(tempDir, keep[0] as string), 'not ours');
  mkdirSync(join(tempDir, keep[1] as string));
  mkdirSync(join(tempDir, keep[2] as string));
  let proc = await startProcess(env);
  t.teardown(() => proc.stop('SIGKILL'));
  const data = Buffer.alloc(2 * MiB + 5, 7);
  const url0 = await createUpload(proc.url, data.length);
  const id = url0.split('/').pop() as string;
  const digest = `sha256 ${Buffer.from(sha256(data), 'hex').toString('base64')}`;

  // Half the body of a checksum PATCH, then the kill while it is spooled.
  const req = patchRequest(url0, 0, { 'Content-Length': String(data.length), 'Upload-Checksum': digest });
  req.on('error', () => {});
  req.write(data.subarray(0, MiB));
  const prefix = `tus-checksum-${spoolHost}-${proc.child.pid}-`;
  let spool = '';
  await until(() => {
    spool = readdirSync(tempDir).find((n) => n.startsWith(prefix)) ?? '';
    return spool !== '' && existsSync(join(tempDir, spool, 'body')) && statSync(join(tempDir, spool, 'body')).size === MiB;
  }, 'the spool holds the first mebibyte');
  await proc.stop('SIGKILL');
  req.destroy();
  t.ok(existsSync(join(tempDir, spool, 'body')), `the dead process left ${spool}`);

  proc = await startProcess(env);
  t.same(readdirSync(tempDir).sort(), [...keep].sort(), 'at start-up its spool is gone; the other entries stay');
  t.equal((await head(`${proc.url}/files/${id}`)).headers.get('upload-offset'), '0', 'nothing of the unverified body was stored');
  const done = await patch(`${proc.url}/files/${id}`, 0, data, { 'Upload-Checksum': digest });
  t.equal(done.status, 204);
  t.same(await objectSha256(client, server.bucket, `${root}${id}`), { sha256: sha256(data), size: data.length });
  t.same(readdirSync(tempDir).sort(), [...keep].sort(), 'the new spool was removed after its request');
  t.equal(await proc.stop('SIGTERM'), 0);
});

/**
 * A TCP relay to the S3 server that calls `onHit` at the first request whose head `matches`
 * (tested on each chunk the server sends): `before` holds that request back (S3 never sees it),
 * `after` forwards it and holds S3's answer back (S3 did it).
 */
async function requestWatcher(
  endpoint: string,
  mode: 'before' | 'after',
  matches: (chunk: string) => boolean,
  onHit: () => void,
): Promise<{ endpoint: string; close(): void }> {
  const target = new URL(endpoint);
  let seen = false;
  const relay = createServer((c: Socket) => {
    const s = connect(Number(target.port), target.hostname);
    let armed = false;
    c.on('data', (d) => {
      if (!seen && matches(d.toString('latin1'))) {
        seen = true;
        armed = true;
        if (mode === 'before') return onHit();
      }
      if (armed && mode === 'before') return;
      s.write(d);
    });
    s.on('data', (d) => (armed ? onHit() : c.write(d)));
    c.on('error', () => s.destroy());
    s.on('error', () => c.destroy());
    c.on('close', () => s.destroy());
    s.on('close', () => c.destroy());
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  const { port } = relay.address() as { port: number };
  return { endpoint: `http://127.0.0.1:${port}`, close: () => relay.close() };
}

/** A promise `hit` resolves, and a 60 s deadline for it. */
function awaitHit(what: string): { hit: () => void; reached: Promise<void> } {
  let hit = () => {};
  const reached = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within 60 s`)), 60_000);
    hit = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  return { hit, reached };
}

/** CompleteMultipartUpload: `POST <key>?uploadId=`. */
const completeRequest = (chunk: string) => /(^|\r\n)POST [^ ]+\?uploadId=/.test(chunk);

/**
 * A process on S3 through the relay at `endpoint` (its environment is `env`), killed (SIGKILL) once
 * `reached` resolves while a PATCH of `size` seeded bytes runs. `restart` starts the next process,
 * which the end of the test kills too.
 */
async function killedMidPatch(t: Test, endpoint: string, root: string, size: number, reached: Promise<unknown>) {
  const env = s3LocationEnv({ ...server, endpoint }, root);
  let proc = await startProcess(env);
  t.teardown(() => proc.stop('SIGKILL'));
  const data = seededData(seeded(SEED), size);
  const url0 = await createUpload(proc.url, data.length);
  const id = url0.split('/').pop() as string;
  patch(url0, 0, data).catch(() => {});
  await reached;
  await proc.stop('SIGKILL');
  const restart = async (next: Record<string, string>) => {
    proc = await startProcess(next);
    return proc;
  };
  return { env, data, id, restart };
}

for (const mode of ['before', 'after'] as const) {
  t.test(
    `SIGKILL while CompleteMultipartUpload is ${mode === 'before' ? 'sent' : 'answered'}: the next process finishes the upload`,
    async (t) => {
      const root = uniqueRoot('ckill');
      const { hit, reached } = awaitHit('CompleteMultipartUpload');
      const relay = await requestWatcher(server.endpoint, mode, completeRequest, hit);
      t.teardown(() => relay.close());
      const { env, data, id, restart } = await killedMidPatch(t, relay.endpoint, root, 10 * MiB + 5, reached);
      t.same(
        (await storedKeys(client, server.bucket, root)).includes(`${root}${id}`),
        mode === 'after',
        mode === 'after' ? 'S3 completed the object' : 'S3 never completed the object',
      );
      const proc = await restart(env);
      const url = `${proc.url}/files/${id}`;
      let offset = Number((await head(url)).headers.get('upload-offset'));
      t.comment(`${mode}: HEAD after the restart says ${offset} of ${data.length}`);
      t.ok(offset <= data.length, 'the offset never passes the length');
      if (offset < data.length) {
        const done = await patch(url, offset, data.subarray(offset));
        t.equal(done.status, 204, 'the rest completes from the HEAD offset');
        offset = Number(done.headers.get('upload-offset'));
      }
      t.equal(offset, data.length);
      t.equal((await head(url)).headers.get('upload-offset'), String(data.length), 'HEAD: complete');
      t.same(await objectSha256(client, server.bucket, `${root}${id}`), { sha256: sha256(data), size: data.length }, 'byte-exact');
      t.same(await storedKeys(client, server.bucket, root), [`${root}${id}`, `${root}${id}.info`], 'no tail or other object left');
      const mpu = await client.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: root }));
      t.same(mpu.Uploads ?? [], [], 'no multipart upload left under the root');
      t.equal(await proc.stop('SIGTERM'), 0);
    },
  );
}

/**
 * The window between CreateMultipartUpload and the `.info` PUT that names its UploadId: a kill
 * there leaves a multipart upload no `.info` names. The process that completes the upload
 * aborts it first (resume), or the one that terminates it.
 */
for (const next of ['resume', 'terminate'] as const) {
  t.test(`SIGKILL after CreateMultipartUpload, before .info names it: the orphan is aborted (${next})`, async (t) => {
    const root = uniqueRoot('mkill');
    const { hit, reached } = awaitHit('PUT of .info after CreateMultipartUpload');
    let created = false;
    const relay = await requestWatcher(
      server.endpoint,
      'before',
      (chunk) => {
        if (/(^|\r\n)POST [^ ]+\?uploads/.test(chunk)) created = true;
        return created && /(^|\r\n)PUT [^ ]+\.info[ ?]/.test(chunk);
      },
      hit,
    );
    t.teardown(() => relay.close());
    const { data, id, restart } = await killedMidPatch(t, relay.endpoint, root, 11 * MiB + 3, reached);
    const strays = (await client.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: root }))).Uploads ?? [];
    t.equal(strays.length, 1, 'the kill left one multipart upload that no .info names');

    const proc = await restart(s3LocationEnv(server, root));
    const url = `${proc.url}/files/${id}`;
    t.equal((await head(url)).headers.get('upload-offset'), '0', 'nothing was acknowledged');
    if (next === 'resume') {
      const done = await patch(url, 0, data);
      t.equal(done.status, 204);
      t.same(await objectSha256(client, server.bucket, `${root}${id}`), { sha256: sha256(data), size: data.length }, 'byte-exact');
      const left = (await client.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: root }))).Uploads ?? [];
      t.same(left, [], 'the completion aborted the orphan');
    } else {
      const res = await fetch(url, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0' } });
      t.equal(res.status, 204);
      const left = (await client.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: root }))).Uploads ?? [];
      t.same(left, [], 'termination aborted the orphan');
      t.same(await storedKeys(client, server.bucket, root), [], 'no object left');
    }
    t.equal(await proc.stop('SIGTERM'), 0);
  });
}
