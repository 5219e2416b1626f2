/** Operations: health, readiness, metrics, request logs, proxies (the demo page: test/browser/demo-page.test.ts). */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import { createUpload, logDir, patch, startApp, startAppFor, TUS } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer } from '../helpers/azure.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { patchRequest } from '../helpers/raw-request.js';
import { s3LocationEnv, s3TestServer, uniqueRoot } from '../helpers/s3.js';

const server = s3TestServer();

t.test('/healthz and /readyz on local, S3 and Azure locations', async (t) => {
  const app = await startAppFor(t, {
    ...s3LocationEnv(server, uniqueRoot('ready')),
    ...azureLocationEnv(azureTestServer(), uniqueRoot('ready')),
    STORAGE_LOCATIONS: 's3,local,azure',
    STORAGE_LOCAL_DRIVER: 'local',
  });
  const health = await fetch(`${app.url}/healthz`);
  t.equal(health.status, 200);
  t.same(await health.json(), { status: 'ok' });
  const ready = await fetch(`${app.url}/readyz`);
  t.equal(ready.status, 200);
  t.same(await ready.json(), { status: 'ready', locations: { s3: { ok: true }, local: { ok: true }, azure: { ok: true } } });
});

t.test('/readyz answers 503 naming the failing location and the reason', async (t) => {
  const app = await startAppFor(t, s3LocationEnv(server, uniqueRoot('ready'), { STORAGE_S3_BUCKET: 'no-such-bucket' }));
  const res = await fetch(`${app.url}/readyz`);
  t.equal(res.status, 503);
  const body = (await res.json()) as { locations: Record<string, { ok: boolean; error: string }> };
  t.equal(body.locations.s3?.ok, false);
  t.match(body.locations.s3?.error, /NoSuchBucket.*check STORAGE_S3_BUCKET/);
});

t.test('/readyz answers 503 for an Azure container that does not exist, naming the variable to check', async (t) => {
  const app = await startAppFor(
    t,
    azureLocationEnv(azureTestServer(), uniqueRoot('ready'), { STORAGE_AZURE_CONTAINER_NAME: 'no-such-container' }),
  );
  const res = await fetch(`${app.url}/readyz`);
  t.equal(res.status, 503);
  const body = (await res.json()) as { locations: Record<string, { ok: boolean; error: string }> };
  t.equal(body.locations.azure?.ok, false);
  t.match(body.locations.azure?.error, /ContainerNotFound.*check STORAGE_AZURE_CONTAINER_NAME/);
});

/** The samples of a Prometheus text exposition. */
function samples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(l);
      if (!m) throw new Error(`not a sample: ${l}`);
      const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
      return { name: m[1] as string, labels, value: Number(m[3]) };
    });
}

/** The value of the one series `name` with exactly these labels (undefined when there is none). */
function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  return samples(text).find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
}

/**
 * PATCH `data` at offset 0 through node:http, one `chunk` at a time; after each chunk `between()`
 * runs (while the rest of the body is held back) until it answers false, then the rest is sent
 * at once. Resolves with the response status.
 */
async function pacedPatch(url: string, data: Buffer, chunk: number, between: () => Promise<boolean>): Promise<number | undefined> {
  const req = patchRequest(url, 0, { 'Content-Length': String(data.length) });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  let answered = false;
  response.then(
    () => {
      answered = true;
    },
    () => {},
  );
  let paced = true;
  // An early answer (an error) ends the sending.
  for (let at = 0; at < data.length && !answered; at += chunk) {
    if (!req.write(data.subarray(at, at + chunk))) await Promise.race([once(req, 'drain'), response]);
    if (paced) paced = await between();
  }
  req.end();
  const res = await response;
  res.resume();
  await once(res, 'end');
  return res.statusCode;
}

t.test('/metrics: requests, bytes, uploads, S3 latency, parts in flight, process metrics; bearer tokens', async (t) => {
  // Distinctive tokens, written out here: test/after/secrets.after.ts finds them in this file and looks for them in every log of the run.
  const settings = { METRICS_TOKENS: 'metrics-tok-5Hq8Zr2Lw,metrics-tok-Vc3Nx7Kp1' };
  const tokens = settings.METRICS_TOKENS.split(',');
  const app = await startAppFor(t, { ...s3LocationEnv(server, uniqueRoot('metrics')), ...settings });
  const scrape = async () => {
    const res = await fetch(`${app.url}/metrics`, { headers: { Authorization: `Bearer ${tokens[1]}` } });
    if (res.status !== 200) throw new Error(`/metrics: ${res.status}`);
    return res.text();
  };
  t.equal((await fetch(`${app.url}/metrics`)).status, 401, 'no token');
  t.equal((await fetch(`${app.url}/metrics`, { headers: { Authorization: 'Bearer wrong' } })).status, 401, 'wrong token');
  t.equal((await fetch(`${app.url}/metrics`, { headers: { Authorization: `Bearer ${tokens[0]}` } })).status, 200, 'the first token');
  const before = await scrape();
  t.equal(metric(before, 'tus_s3_parts_in_flight', { location: 's3' }), 0, 'no part in flight before any upload');
  t.equal(metric(before, 'tus_received_bytes_total', { location: 's3' }) ?? 0, 0, 'no bytes before any upload');

  const small = randomData(6 * 1024 * 1024);
  const url = await createUpload(app.url, small.length);
  t.equal((await patch(url, 0, small)).status, 204);
  const gone = await createUpload(app.url, 10);
  t.equal((await fetch(gone, { method: 'DELETE', headers: TUS })).status, 204);
  const one = await scrape();
  t.equal(metric(one, 'tus_http_requests_total', { method: 'PATCH', status: '204', location: 's3' }), 1, 'one PATCH answered 204');
  t.equal(metric(one, 'tus_received_bytes_total', { location: 's3' }), small.length, 'bytes received: the upload, exactly');
  t.equal(metric(one, 'tus_uploads_total', { event: 'created', location: 's3' }), 2, 'two uploads created');
  t.equal(metric(one, 'tus_uploads_total', { event: 'finished', location: 's3' }), 1, 'one upload finished');
  t.equal(metric(one, 'tus_uploads_total', { event: 'terminated', location: 's3' }), 1, 'one upload terminated');
  t.equal(metric(one, 'tus_upload_duration_seconds_count', { location: 's3' }), 1, 'one upload duration');
  t.ok(
    (metric(one, 'tus_s3_request_duration_seconds_count', { location: 's3', operation: 'PutObject', result: 'ok' }) ?? 0) > 0,
    'PutObject timed (the .info of each upload)',
  );
  t.ok((metric(one, 'tus_lock_wait_seconds_count', { location: 's3' }) ?? 0) > 0, 'lock waits timed');
  t.equal(metric(one, 'tus_temp_bytes'), 0, 'no temporary bytes');
  t.ok((metric(one, 'process_cpu_seconds_total') ?? 0) > 0, 'process metrics');

  // A 12 MiB upload sent slowly: while its body arrives, a part is in flight.
  const big = randomData(12 * 1024 * 1024);
  const bigUrl = await createUpload(app.url, big.length);
  const inFlight: number[] = [];
  const deadline = Date.now() + 20000;
  const status = await pacedPatch(bigUrl, big, 64 * 1024, async () => {
    inFlight.push(metric(await scrape(), 'tus_s3_parts_in_flight', { location: 's3' }) ?? 0);
    return (inFlight.at(-1) as number) === 0 && Date.now() < deadline;
  });
  t.equal(status, 204, 'the slow upload is stored');
  t.ok(Math.max(...inFlight) > 0, `tus_s3_parts_in_flight above zero during the upload (samples: ${inFlight.join(',')})`);
  let after = await scrape();
  const settled = Date.now() + 5000;
  while (metric(after, 'tus_s3_parts_in_flight', { location: 's3' }) !== 0 && Date.now() < settled) after = await scrape();
  t.equal(metric(after, 'tus_s3_parts_in_flight', { location: 's3' }), 0, 'back to zero once the upload is stored');
  t.equal(
    metric(after, 'tus_received_bytes_total', { location: 's3' }),
    small.length + big.length,
    'bytes received: both uploads, exactly',
  );
  t.equal(metric(after, 'tus_uploads_total', { event: 'finished', location: 's3' }), 2, 'two uploads finished');
  t.equal(metric(after, 'tus_upload_duration_seconds_count', { location: 's3' }), 2);
  t.equal(metric(after, 'tus_http_requests_total', { method: 'PATCH', status: '204', location: 's3' }), 2);
  for (const operation of ['CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'PutObject']) {
    const count = metric(after, 'tus_s3_request_duration_seconds_count', { location: 's3', operation, result: 'ok' }) ?? 0;
    t.ok(count > 0, `${operation} timed: ${count}`);
  }
  t.equal(sha256(Buffer.from(await (await fetch(bigUrl)).arrayBuffer())), sha256(big), 'the slow upload reads back');
});

t.test('one log line per request with request id, upload id, location, status, bytes, duration', async (t) => {
  const app = await startAppFor(t, {});
  const res = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': '5', 'X-Request-Id': 'req-from-client-42' },
  });
  t.equal(res.headers.get('x-request-id'), 'req-from-client-42', 'the incoming request id is echoed');
  const url = new URL(res.headers.get('location') as string, app.url).toString();
  t.equal((await patch(url, 0, Buffer.from('hello'), { 'X-Request-Id': 'req-patch-43' })).status, 204);
  // The request line is written once the response is sent: read the log until both lines are there.
  const read = async () =>
    (await readFile(join(logDir, `app-${process.pid}.log`), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  let lines = await read();
  const deadline = Date.now() + 5000;
  while (!['req-from-client-42', 'req-patch-43'].every((id) => lines.some((l) => l.reqId === id && l.msg === 'request'))) {
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 20));
    lines = await read();
  }
  const post = lines.find((l) => l.reqId === 'req-from-client-42' && l.msg === 'request');
  t.match(post, { method: 'POST', status: 201, outcome: 'answered', location: 'local', uploadId: url.split('/').pop() });
  t.type(post?.durationMs, 'number');
  const p = lines.find((l) => l.reqId === 'req-patch-43' && l.msg === 'request');
  t.match(p, { method: 'PATCH', status: 204, location: 'local', bytes: 5, uploadId: url.split('/').pop() });
});

t.test('behind a proxy: trusted X-Forwarded-* and Forwarded give the Location; untrusted ones are ignored', async (t) => {
  const trusted = await startApp({ IP_TRUST_PROXY: 'true' });
  t.teardown(() => trusted.close());
  const a = await fetch(`${trusted.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': '1', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'up.example.com' },
  });
  t.match(a.headers.get('location'), /^https:\/\/up\.example\.com\/files\/[0-9a-f]{32}$/);
  const b = await fetch(`${trusted.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': '1', Forwarded: 'for=1.2.3.4;host=fw.example.org;proto=https' },
  });
  t.match(b.headers.get('location'), /^https:\/\/fw\.example\.org\/files\//);
  const untrusted = await startApp({});
  t.teardown(() => untrusted.close());
  const c = await fetch(`${untrusted.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': '1', 'X-Forwarded-Host': 'evil.example' },
  });
  t.match(c.headers.get('location'), new RegExp(`^${untrusted.url}/files/`));
  const prefixed = await startApp({ PUBLIC_URL: 'https://example.com/uploads' });
  t.teardown(() => prefixed.close());
  const d = await fetch(`${prefixed.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '1' } });
  t.match(d.headers.get('location'), /^https:\/\/example\.com\/uploads\/files\/[0-9a-f]{32}$/, 'a proxy path prefix via PUBLIC_URL');
});
