/**
 * S3 down at start and mid-run: a TCP proxy between the server and S3 is taken down (connections
 * refused, open ones reset) and brought back. /readyz says why, tus requests answer 503 quickly,
 * nothing crashes, and the service returns by itself. A blackholed S3 (connections accepted,
 * never answered) costs requests their timeouts, not minutes.
 */
import t from 'tap';
import { createUpload, head, patch, TUS } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { startProcess } from '../helpers/process.js';
import { objectSha256, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { until } from '../helpers/wait.js';

const server = s3TestServer();
const client = verifyClient(server);
const target = new URL(server.endpoint);
const MIB = 1024 * 1024;
/** Well under the SDK's connection timeout times its attempts (5 s x 4): no hang on a refused connection. */
const QUICK_MS = 3000;

async function readyz(
  url: string,
): Promise<{ status: number; body: { status: string; locations?: Record<string, { ok: boolean; error?: string }> } }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as never };
}

/** The offset HEAD answers once it answers 200 again (S3 is back), polled until `timeoutMs`. */
async function offsetOnceBack(url: string, what: string, timeoutMs: number): Promise<number> {
  let offset = -1;
  await until(
    async () => {
      const h = await head(url);
      if (h.status !== 200) return false;
      offset = Number(h.headers.get('upload-offset'));
      return true;
    },
    what,
    timeoutMs,
    100,
  );
  return offset;
}

t.test('S3 unreachable at start: the server starts, says why, answers 503 quickly, and returns by itself', async (t) => {
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  t.teardown(() => proxy.close());
  await proxy.down();
  const root = uniqueRoot('s3-down-start');
  const srv = await startProcess(s3LocationEnv(server, root, { STORAGE_S3_ENDPOINT: proxy.url }));
  t.teardown(() => srv.stop('SIGKILL'));

  const ready = await readyz(srv.url);
  t.equal(ready.status, 503, '/readyz: 503 while S3 is unreachable');
  t.equal(ready.body.status, 'not ready');
  t.equal(ready.body.locations?.s3?.ok, false);
  t.match(
    ready.body.locations?.s3?.error ?? '',
    /Storage location "s3": S3 did not answer PutObject .*\(ECONNREFUSED\)/,
    'the reason names the location and the connection problem',
  );

  let started = Date.now();
  const created = await fetch(`${srv.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '10' } });
  const createMs = Date.now() - started;
  t.equal(created.status, 503, 'POST: 503');
  t.equal(created.headers.get('retry-after'), '3', 'with Retry-After');
  t.match(await created.text(), /ECONNREFUSED.*nothing was created, send the POST again/s);
  t.ok(createMs < QUICK_MS, `POST answered in ${createMs} ms (< ${QUICK_MS})`);

  started = Date.now();
  const headed = await fetch(`${srv.url}/files/0123456789abcdef0123456789abcdef`, { method: 'HEAD', headers: TUS });
  const headMs = Date.now() - started;
  t.equal(headed.status, 503, 'HEAD of an upload: 503');
  t.ok(headMs < QUICK_MS, `HEAD answered in ${headMs} ms (< ${QUICK_MS})`);
  t.equal(srv.child.exitCode, null, 'still running');

  await proxy.up();
  await until(async () => (await readyz(srv.url)).status === 200, '/readyz 200 after S3 returns', 15_000, 200);
  const data = randomData(1000);
  const url = await createUpload(srv.url, data.length);
  const res = await patch(url, 0, data);
  t.equal(res.status, 204, 'an upload completes after S3 returns');
  const id = new URL(url).pathname.split('/').pop();
  t.equal((await objectSha256(client, server.bucket, `${root}${id}`)).sha256, sha256(data), 'byte-exact');
  t.equal(srv.child.exitCode, null, 'never crashed');
});

t.test('S3 goes away mid-upload: PATCH answers 503 with Retry-After, then the upload resumes and completes byte-exact', async (t) => {
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  t.teardown(() => proxy.close());
  const root = uniqueRoot('s3-down-mid');
  const srv = await startProcess(s3LocationEnv(server, root, { STORAGE_S3_ENDPOINT: proxy.url }));
  t.teardown(() => srv.stop('SIGKILL'));

  const data = randomData(12 * MIB);
  const url = await createUpload(srv.url, data.length);
  const first = await patch(url, 0, data.subarray(0, 6 * MIB));
  t.equal(first.status, 204);
  t.equal(first.headers.get('upload-offset'), String(6 * MIB));

  await proxy.down();
  const started = Date.now();
  const failed = await patch(url, 6 * MIB, data.subarray(6 * MIB, 11 * MIB));
  const failMs = Date.now() - started;
  const failedBody = await failed.text();
  t.equal(failed.status, 503, `PATCH with S3 down: 503 (${failedBody.trim()})`);
  t.equal(failed.headers.get('retry-after'), '3', 'with Retry-After');
  t.ok(failMs < QUICK_MS, `PATCH answered in ${failMs} ms (< ${QUICK_MS})`);
  const headDown = await head(url);
  t.equal(headDown.status, 503, 'HEAD with S3 down: 503, not a guessed offset');
  t.equal(srv.child.exitCode, null, 'still running');
  t.equal((await readyz(srv.url)).status, 503, '/readyz 503 (a fresh check, or the cached failure)');

  await proxy.up();
  const offset = await offsetOnceBack(url, 'HEAD answers once S3 is back', 10_000);
  t.ok(offset >= 6 * MIB && offset <= 11 * MIB, `resume offset ${offset} is within what was sent`);
  const rest = await patch(url, offset, data.subarray(offset));
  t.equal(rest.status, 204, 'the rest is accepted');
  t.equal(rest.headers.get('upload-offset'), String(data.length));
  const id = new URL(url).pathname.split('/').pop();
  t.equal((await objectSha256(client, server.bucket, `${root}${id}`)).sha256, sha256(data), 'byte-exact');
  await until(async () => (await readyz(srv.url)).status === 200, '/readyz 200 again', 15_000, 200);
  t.equal(srv.child.exitCode, null, 'never crashed');
});

t.test('S3 accepts connections but never answers (a partition): requests answer 503 within the timeouts, then resume', async (t) => {
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  t.teardown(() => proxy.close());
  const root = uniqueRoot('s3-blackhole');
  // Small requests wait REQUEST_TIMEOUT per attempt, parts SOCKET_TIMEOUT of silence.
  const timeouts = { STORAGE_S3_REQUEST_TIMEOUT: '1000', STORAGE_S3_SOCKET_TIMEOUT: '3000', STORAGE_S3_MAX_ATTEMPTS: '2' };
  const srv = await startProcess(s3LocationEnv(server, root, { STORAGE_S3_ENDPOINT: proxy.url, ...timeouts }));
  t.teardown(() => srv.stop('SIGKILL'));

  const data = randomData(12 * MIB);
  const url = await createUpload(srv.url, data.length);
  const first = await patch(url, 0, data.subarray(0, 6 * MIB));
  t.equal(first.status, 204);

  proxy.blackhole();
  // Two attempts of 1 s each plus the SDK's back-off: well under 8 s; with the old behaviour
  // (no per-request timeout) a HEAD waited SOCKET_TIMEOUT per attempt, a POST likewise.
  const BOUND_MS = 8000;
  // A PATCH whose part meets the silence (its state is cached): bounded by SOCKET_TIMEOUT per
  // attempt, not a hang.
  let started = Date.now();
  const failed = await patch(url, 6 * MIB, data.subarray(6 * MIB, 11 * MIB));
  const patchMs = Date.now() - started;
  t.equal(failed.status, 503, `PATCH: 503 in ${patchMs} ms (${(await failed.text()).trim()})`);
  t.ok(patchMs < 30_000, `PATCH answered in ${patchMs} ms (< 30 s)`);
  started = Date.now();
  const headed = await head(url);
  const headMs = Date.now() - started;
  t.equal(headed.status, 503, 'HEAD: 503');
  t.ok(headMs < BOUND_MS, `HEAD answered in ${headMs} ms (< ${BOUND_MS})`);

  started = Date.now();
  const created = await fetch(`${srv.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '10' } });
  const createMs = Date.now() - started;
  t.equal(created.status, 503, 'POST: 503');
  t.match(await created.text(), /REQUEST_TIMEOUT/, 'the message names the timeout to check');
  t.ok(createMs < BOUND_MS, `POST answered in ${createMs} ms (< ${BOUND_MS})`);

  started = Date.now();
  const ready = await readyz(srv.url);
  t.equal(ready.status, 503, `/readyz: 503 in ${Date.now() - started} ms`);

  t.equal(srv.child.exitCode, null, 'still running');

  await proxy.up();
  const offset = await offsetOnceBack(url, 'HEAD answers once S3 answers again', 20_000);
  t.ok(offset >= 6 * MIB && offset <= 11 * MIB, `resume offset ${offset} is within what was sent`);
  const rest = await patch(url, offset, data.subarray(offset));
  t.equal(rest.status, 204, 'the rest is accepted');
  const id = new URL(url).pathname.split('/').pop();
  t.equal((await objectSha256(client, server.bucket, `${root}${id}`)).sha256, sha256(data), 'byte-exact');
  t.equal(srv.child.exitCode, null, 'never crashed');
});
