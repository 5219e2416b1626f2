/**
 * A bucket that does not exist when the server starts: the server checks every location once at
 * start and says so in a warning naming the location, the bucket and what to do, instead of
 * "ready"; it serves on (/healthz 200, /readyz 503), and once the bucket is created /readyz
 * turns 200 and uploads work, without a restart. The built server, as its own process.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createUpload, patch, TUS } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { startProcess } from '../helpers/process.js';
import { createBucket, removeBucket, s3LocationEnv, s3TestServer, uniqueRoot } from '../helpers/s3.js';
import { until } from '../helpers/wait.js';

const server = s3TestServer();

/** The JSON lines of the server's output (pino). */
function logLines(output: string): Array<Record<string, unknown>> {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

t.test('a missing bucket: a warning at start naming it and the fix; served on; used once it exists', async (t) => {
  const bucket = `tus-late-${randomBytes(4).toString('hex')}`;
  const proc = await startProcess(s3LocationEnv(server, uniqueRoot('late'), { STORAGE_S3_BUCKET: bucket }));
  t.teardown(() => proc.stop());

  await until(() => /listening, but not ready/.test(proc.output()), 'the start-up check to finish', 10_000);
  const lines = logLines(proc.output());
  const warning = lines.find((l) => l.level === 40 && l.location === 's3' && l.bucket === bucket);
  t.ok(warning, 'a warning names the location and the bucket');
  t.match(warning?.msg, `Storage location "s3" (bucket "${bucket}") is not ready at start: S3 refused PutObject on bucket "${bucket}"`);
  t.match(
    warning?.msg,
    /\(NoSuchBucket, HTTP 404\)\. The bucket does not exist: check STORAGE_S3_BUCKET, STORAGE_S3_ENDPOINT and STORAGE_S3_REGION\./,
  );
  t.match(warning?.msg, `Create the bucket (aws s3 mb s3://${bucket}) or correct STORAGE_S3_BUCKET.`);
  t.match(
    warning?.msg,
    /The server keeps serving meanwhile: \/readyz answers 503 .* a bucket created or a permission granted later is used without a restart\.$/,
  );
  t.equal(warning?.driver, 's3');
  const summary = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('tus-s3-server listening, but not ready'));
  t.equal(summary?.level, 40);
  t.same(summary?.notReady, ['s3']);
  t.notOk(
    lines.some((l) => l.msg === 'tus-s3-server ready'),
    'not "ready"',
  );

  t.equal((await fetch(`${proc.url}/healthz`)).status, 200, 'alive');
  const notReady = await fetch(`${proc.url}/readyz`);
  t.equal(notReady.status, 503);
  t.match(await notReady.json(), { status: 'not ready', locations: { s3: { ok: false, error: /NoSuchBucket/ } } });
  const refused = await fetch(`${proc.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '1' } });
  t.equal(refused.status, 502, 'an upload fails meanwhile');
  t.match(await refused.text(), /NoSuchBucket/);

  await createBucket(server, bucket);
  t.teardown(() => removeBucket(server, bucket));
  await until(async () => (await fetch(`${proc.url}/readyz`)).status === 200, '/readyz to turn 200 once the bucket exists', 15_000);
  const data = randomData(1000);
  const url = await createUpload(proc.url, data.length);
  t.equal((await patch(url, 0, data)).status, 204, 'an upload works, without a restart');
  t.equal(sha256(Buffer.from(await (await fetch(url)).arrayBuffer())), sha256(data));
  t.equal(proc.child.exitCode, null, 'the same process throughout');
});

t.test('an existing bucket: "ready" at start, no warning', async (t) => {
  const proc = await startProcess(s3LocationEnv(server, uniqueRoot('ready-start')));
  t.teardown(() => proc.stop());
  await until(() => /tus-s3-server ready/.test(proc.output()), 'the ready line', 10_000);
  t.notOk(/not ready at start/.test(proc.output()));
});
