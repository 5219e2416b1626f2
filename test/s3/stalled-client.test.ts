import t from 'tap';
import { head, patch } from '../helpers/app.js';
import { sha256 } from '../helpers/bytes.js';
import { patchRequest } from '../helpers/raw-request.js';
import { objectSha256, s3TestServer, verifyClient } from '../helpers/s3.js';
import { uploadOnS3 } from '../helpers/s3-app.js';
import { MiB } from '../helpers/sizes.js';

const server = s3TestServer();
const verify = verifyClient(server);

t.test('a stalled PATCH on S3 hands the lock to the resuming HEAD and keeps what it received', async (t) => {
  const { root, app, data, url, id } = await uploadOnS3(t, server, 'stall', 12 * MiB + 5);

  const stalled = patchRequest(url, 0, { 'Content-Length': String(data.length) });
  const stalledAnswer = new Promise<number | 'closed'>((resolve) => {
    stalled.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    stalled.on('error', () => resolve('closed'));
  });
  t.teardown(() => stalled.destroy());
  const sent = 2 * MiB + 7;
  await new Promise<void>((resolve) => stalled.write(data.subarray(0, sent), () => resolve()));
  // The client now sends nothing more, and keeps the connection open. Wait until the server
  // is inside the PATCH (holding the lock): its first part is streaming to S3.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    if (/tus_s3_parts_in_flight\{location="s3"\} [1-9]/.test(metrics)) break;
    if (Date.now() > deadline) throw new Error('the PATCH never started its first part');
    await new Promise((r) => setTimeout(r, 20));
  }

  const started = Date.now();
  const res = await head(url);
  const waited = Date.now() - started;
  t.equal(res.status, 200, 'HEAD answers');
  t.equal(res.headers.get('upload-offset'), String(sent), 'every byte the stalled request received is kept');
  t.ok(
    waited >= 2_500 && waited < 15_000,
    `HEAD waited ${waited} ms: the lock is handed over after the 3 s drain, not held until a 30 s timeout`,
  );
  t.equal(await stalledAnswer, 204, 'the stalled request was answered with what it stored');

  const done = await patch(url, sent, data.subarray(sent));
  t.equal(done.status, 204);
  t.equal(done.headers.get('upload-offset'), String(data.length));
  t.equal((await objectSha256(verify, server.bucket, `${root}${id}`)).sha256, sha256(data), 'the object is byte-exact');
});
