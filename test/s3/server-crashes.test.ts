/**
 * Server crashes (issue 14, item 3): the built server as its own process, killed with SIGKILL at
 * seeded random moments (after a random number of bytes of a PATCH were sent, and right after
 * the last byte of the completing PATCH), started again on the same root, and the upload
 * resumed with HEAD + PATCH: the offset never claims more than was sent nor less than was
 * acknowledged, the object is byte-exact, nothing is orphaned. A checksum spool a killed
 * process left in TUS_TEMP_DIR is removed when the next one starts.
 *
 * The kills themselves: test/helpers/crash-kills.ts (test/azure/server-crashes.test.ts runs them on Azure).
 * SEED=<n> replays a run (the seed is printed); KILLS (PATCH kills before the completion kill),
 * SIZE (bytes, or "64MiB") and COMPLETION_DELAY_MS (the completion kill lands up to this long
 * after the last byte was sent) make other runs.
 */
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import t, { type Test } from 'tap';
import { spoolHost } from '../../src/tus/spool-sweep.js';
import { createUpload, head, patch } from '../helpers/app.js';
import { sha256 } from '../helpers/bytes.js';
import { completeFromHead, killsThenComplete } from '../helpers/crash-kills.js';
import { startProcess } from '../helpers/process.js';
import { patchRequest } from '../helpers/raw-request.js';
import { awaitHit, requestWatcher } from '../helpers/request-watcher.js';
import { objectSha256, s3LocationEnv, s3TestServer, storedKeys, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { scratchDir } from '../helpers/scratch.js';
import { seeded, seededData, sizeFromEnv } from '../helpers/seeded.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const SEED = Number(process.env.SEED ?? randomInt(2 ** 31));
const KILLS = Number(process.env.KILLS ?? 2);
const SIZE = sizeFromEnv(process.env.SIZE, 12 * MiB + 77);
const COMPLETION_DELAY_MS = Number(process.env.COMPLETION_DELAY_MS ?? 300);
const server = s3TestServer();
const client = verifyClient(server);

t.test('SIGKILL during PATCHes and during completion: a new process resumes byte-exact, no tail or temp file left', async (t) => {
  const random = seeded(SEED);
  const data = seededData(random, SIZE);
  const root = uniqueRoot('crash');
  const tempDir = scratchDir(t, 'tus-crash-temp-');
  const env = s3LocationEnv(server, root, { TUS_TEMP_DIR: tempDir });
  const { id, proc } = await killsThenComplete(t, env, data, random, { kills: KILLS, completionDelayMs: COMPLETION_DELAY_MS, seed: SEED });
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
  const tempDir = scratchDir(t, 'tus-crash-temp-');
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
      await completeFromHead(t, url, data, mode);
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
