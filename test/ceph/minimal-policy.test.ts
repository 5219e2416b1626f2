/**
 * The minimal IAM policy of docs/s3.md, for real: on Ceph radosgw (scripts/ceph-server.sh, run by
 * `npm run test:ceph`), a user granted only those actions by a bucket policy on a bucket another
 * user owns can create, resume, finish, download, terminate, concatenate and expire uploads; a
 * user without s3:PutObject is told what to grant. Skipped unless S3_TEST_BACKEND=ceph.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  PutBucketPolicyCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import t from 'tap';
import { TUS } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { lastSegment } from '../helpers/ids.js';
import { runToExit, startProcess } from '../helpers/process.js';
import { listKeys, objectSha256, s3LocationEnv, s3TestServer, storedKeys, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';

/** The actions of the minimal IAM policy of docs/s3.md (its "Minimal IAM policy" section). */
const MINIMAL = [
  's3:PutObject',
  's3:GetObject',
  's3:GetObjectVersion',
  's3:DeleteObject',
  's3:AbortMultipartUpload',
  's3:ListMultipartUploadParts',
];

async function run(): Promise<void> {
  const admin = s3TestServer();
  const adminClient = verifyClient(admin);
  const cephArgs = ['-c', process.env.CEPH_TEST_CONF ?? '', '-n', 'client.admin', '-k', process.env.CEPH_TEST_KEYRING ?? ''];
  const radosgwAdmin = (...args: string[]) => promisify(execFile)('radosgw-admin', [...cephArgs, ...args]);
  const suffix = randomBytes(4).toString('hex');

  /** A radosgw user of its own, owning nothing. */
  async function newUser(name: string): Promise<{ uid: string; key: string; secret: string }> {
    const uid = `tus-${name}-${suffix}`;
    const key = `TUS${name.toUpperCase()}${suffix}`.slice(0, 20);
    const secret = randomBytes(20).toString('hex');
    await radosgwAdmin('user', 'create', `--uid=${uid}`, `--display-name=${uid}`, `--access-key=${key}`, `--secret-key=${secret}`);
    t.teardown(() => radosgwAdmin('user', 'rm', `--uid=${uid}`).catch(() => {}));
    return { uid, key, secret };
  }

  const bucket = `tus-policy-${suffix}`;
  const minimal = await newUser('minimal');
  const noPut = await newUser('noput');
  await adminClient.send(new CreateBucketCommand({ Bucket: bucket }));
  const statements = (uid: string, actions: string[]) => [
    { Effect: 'Allow', Principal: { AWS: [`arn:aws:iam:::user/${uid}`] }, Action: ['s3:ListBucket'], Resource: [`arn:aws:s3:::${bucket}`] },
    { Effect: 'Allow', Principal: { AWS: [`arn:aws:iam:::user/${uid}`] }, Action: actions, Resource: [`arn:aws:s3:::${bucket}/*`] },
  ];
  await adminClient.send(
    new PutBucketPolicyCommand({
      Bucket: bucket,
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          ...statements(minimal.uid, MINIMAL),
          ...statements(
            noPut.uid,
            MINIMAL.filter((a) => a !== 's3:PutObject'),
          ),
        ],
      }),
    }),
  );
  t.teardown(async () => {
    for (const key of await listKeys(adminClient, bucket, '')) {
      await userClient(minimal)
        .send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))
        .catch(() => adminClient.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })))
        .catch(() => {});
    }
    await adminClient.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
  });

  const asUser = (user: { key: string; secret: string }) => ({ ...admin, bucket, key: user.key, secret: user.secret });
  const userClient = (user: { key: string; secret: string }) =>
    new S3Client({
      endpoint: admin.endpoint,
      region: admin.region,
      forcePathStyle: true,
      credentials: { accessKeyId: user.key, secretAccessKey: user.secret },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });

  const post = (base: string, headers: Record<string, string>) =>
    fetch(`${base}/files/`, { method: 'POST', headers: { ...TUS, ...headers } });
  const patch = (url: string, offset: number, body: Buffer) =>
    fetch(url, {
      method: 'PATCH',
      headers: { ...TUS, 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' },
      body: new Uint8Array(body),
    });
  const head = (url: string) => fetch(url, { method: 'HEAD', headers: TUS });
  const absolute = (base: string, res: Response) => new URL(res.headers.get('location') ?? '', base).toString();

  t.test('the policy itself: ListMultipartUploads (not in it) is denied to the user', async (t) => {
    const err = await userClient(minimal)
      .send(new ListMultipartUploadsCommand({ Bucket: bucket }))
      .then(
        () => undefined,
        (e: Error) => e,
      );
    t.equal(err?.name, 'AccessDenied', 'radosgw enforces the bucket policy');
  });

  t.test('a user granted only the minimal policy: create, resume, finish, download, terminate, concatenate', async (t) => {
    const root = uniqueRoot('policy');
    const env = s3LocationEnv(asUser(minimal), root);
    const proc = await startProcess(env);
    t.teardown(() => proc.stop('SIGKILL'));
    const base = proc.url;

    // Create, then resume: PATCH in pieces, each continued from the offset HEAD reports.
    const data = randomData(12 * MiB + 7);
    const created = await post(base, { 'Upload-Length': String(data.length) });
    t.equal(created.status, 201, 'create');
    const url = absolute(base, created);
    const cuts = [0, 3 * MiB + 1, 7 * MiB, data.length];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const offset = Number((await head(url)).headers.get('upload-offset'));
      t.equal(offset, cuts[i], `HEAD before piece ${i + 1}: offset ${cuts[i]}`);
      const res = await patch(url, offset, data.subarray(offset, cuts[i + 1]));
      t.equal(res.status, 204, `PATCH piece ${i + 1}`);
      t.equal(res.headers.get('upload-offset'), String(cuts[i + 1]));
    }
    const done = await head(url);
    t.equal(done.headers.get('upload-offset'), String(data.length), 'finished');
    // Objects written by the user are the user's (radosgw, like S3 with ACLs): read them as the user.
    t.same(
      await objectSha256(userClient(minimal), bucket, `${root}${lastSegment(url)}`),
      { sha256: sha256(data), size: data.length },
      'byte-exact in S3',
    );

    // Download.
    const got = await fetch(url, { headers: TUS });
    t.equal(got.status, 200, 'download');
    t.equal(sha256(Buffer.from(await got.arrayBuffer())), sha256(data), 'downloaded bytes');

    // Terminate an unfinished one (its multipart upload aborted) and the finished one.
    const unfinished = absolute(base, await post(base, { 'Upload-Length': String(8 * MiB) }));
    t.equal((await patch(unfinished, 0, randomData(6 * MiB))).status, 204);
    t.equal((await fetch(unfinished, { method: 'DELETE', headers: TUS })).status, 204, 'terminate an unfinished upload');
    t.equal((await head(unfinished)).status, 404, 'gone');
    t.equal((await fetch(url, { method: 'DELETE', headers: TUS })).status, 204, 'terminate a finished upload');
    t.same(await storedKeys(adminClient, bucket, root), [], 'nothing left in the bucket');
    const mpu = await adminClient.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: root }));
    t.same(mpu.Uploads ?? [], [], 'no multipart upload left');

    // Concatenate: a partial of 6 MiB (copied inside S3) and a small one, then the final.
    const pieces = [randomData(6 * MiB + 3), randomData(MiB + 5)];
    const partials: string[] = [];
    for (const piece of pieces) {
      const res = await post(base, { 'Upload-Length': String(piece.length), 'Upload-Concat': 'partial' });
      t.equal(res.status, 201, 'partial created');
      const partial = absolute(base, res);
      t.equal((await patch(partial, 0, piece)).status, 204, 'partial written');
      partials.push(partial);
    }
    const final = await post(base, { 'Upload-Concat': `final;${partials.map((p) => new URL(p).pathname).join(' ')}` });
    t.equal(final.status, 201, 'final created');
    const finalUrl = absolute(base, final);
    const whole = Buffer.concat(pieces);
    t.equal((await head(finalUrl)).headers.get('upload-length'), String(whole.length));
    const finalGet = await fetch(finalUrl, { headers: TUS });
    t.equal(finalGet.status, 200);
    t.equal(sha256(Buffer.from(await finalGet.arrayBuffer())), sha256(whole), 'concatenated bytes');

    // The stray-multipart sweep needs s3:ListBucketMultipartUploads, which the policy lacks:
    // never a failed upload for it (every step above succeeded), at most a warning.
    t.equal(await proc.stop('SIGTERM'), 0);
    const lines = proc
      .output()
      .split('\n')
      .filter((l) => l.includes('ListMultipartUploads') || l.includes('ListBucketMultipartUploads'));
    t.comment(`${lines.length} log line(s) about the multipart-upload listing: ${lines.map((l) => l.slice(0, 240)).join(' | ')}`);
    t.equal(lines.length, 1, 'one warning for the bucket, not one per upload');
    t.match(lines[0] ?? '', /grant s3:ListBucketMultipartUploads/, 'it names the permission');
    for (const line of lines) t.match(line, /"level":(40|"warn")/, `only a warning: ${line.slice(0, 300)}`);
    t.notMatch(proc.output(), /"level":(50|"error")/, 'no error logged');
  });

  t.test('a user granted only the minimal policy: expired uploads are removed by `cleanup`', async (t) => {
    const root = uniqueRoot('policy-expire');
    const env = s3LocationEnv(asUser(minimal), root);
    const proc = await startProcess(env);
    t.teardown(() => proc.stop('SIGKILL'));
    const url = absolute(proc.url, await post(proc.url, { 'Upload-Length': String(10 * MiB) }));
    t.equal((await patch(url, 0, randomData(6 * MiB))).status, 204, 'an unfinished upload with a stored part');
    const id = lastSegment(url);
    const stored = await storedKeys(adminClient, bucket, root);
    t.same(stored, [`${root}${id}.info`], 'its state in S3');
    const before = await adminClient.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: root }));
    t.same(
      (before.Uploads ?? []).map((u) => u.Key),
      [`${root}${id}`],
      'its multipart upload holds the 6 MiB',
    );
    await new Promise((r) => setTimeout(r, 1100)); // the upload must be older than the 1 s expiration
    const cleanup = await runToExit({ ...env, TUS_UPLOAD_EXPIRATION: '1s' }, undefined, ['cleanup']);
    t.equal(cleanup.code, 0, `cleanup exit code (${cleanup.output.slice(-500)})`);
    t.match(cleanup.output, /\{"removed":\{"s3":1\}\}/, 'one expired upload removed');
    t.equal((await head(url)).status, 404, 'the expired upload is gone');
    t.same(await storedKeys(adminClient, bucket, root), [], 'nothing left in the bucket');
    const mpu = await adminClient.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: root }));
    t.same(mpu.Uploads ?? [], [], 'its multipart upload aborted');
    t.equal(await proc.stop('SIGTERM'), 0);
  });

  t.test('a user without s3:PutObject is told what to grant', async (t) => {
    const root = uniqueRoot('policy-noput');
    const proc = await startProcess(s3LocationEnv(asUser(noPut), root));
    t.teardown(() => proc.stop('SIGKILL'));
    const res = await post(proc.url, { 'Upload-Length': '10' });
    t.equal(res.status, 502);
    const body = await res.text();
    t.match(
      body,
      new RegExp(
        `^Storage location "s3": S3 refused PutObject on bucket "${bucket}" key "${root}[0-9a-f]+\\.info" \\(AccessDenied, HTTP 403\\)\\. S3 denied PutObject: grant s3:PutObject on arn:aws:s3:::${bucket}/${root}\\* in the IAM permissions of the credentials or the bucket policy`,
      ),
      body,
    );
    t.equal(await proc.stop('SIGTERM'), 0);
  });
}

if (process.env.S3_TEST_BACKEND !== 'ceph') {
  t.plan(0, 'needs Ceph radosgw (S3_TEST_BACKEND=ceph): run `npm run test:ceph`');
} else {
  await run();
}
