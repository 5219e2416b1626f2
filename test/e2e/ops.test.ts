/** Operations: health, readiness, metrics, request logs, proxies, the demo page. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { createUpload, logDir, patch, startApp, TUS } from '../helpers/app.js';
import { launchBrowser } from '../helpers/browser.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { s3LocationEnv, s3TestServer, uniqueRoot } from '../helpers/s3.js';

const server = s3TestServer();

t.test('/healthz and /readyz on local and S3 locations', async (t) => {
  const app = await startApp({
    ...s3LocationEnv(server, uniqueRoot('ready')),
    STORAGE_LOCATIONS: 's3,local',
    STORAGE_LOCAL_DRIVER: 'local',
  });
  t.teardown(() => app.close());
  const health = await fetch(`${app.url}/healthz`);
  t.equal(health.status, 200);
  t.same(await health.json(), { status: 'ok' });
  const ready = await fetch(`${app.url}/readyz`);
  t.equal(ready.status, 200);
  t.same(await ready.json(), { status: 'ready', locations: { s3: { ok: true }, local: { ok: true } } });
});

t.test('/readyz answers 503 naming the failing location and the reason', async (t) => {
  const app = await startApp(s3LocationEnv(server, uniqueRoot('ready'), { STORAGE_S3_BUCKET: 'no-such-bucket' }));
  t.teardown(() => app.close());
  const res = await fetch(`${app.url}/readyz`);
  t.equal(res.status, 503);
  const body = (await res.json()) as { locations: Record<string, { ok: boolean; error: string }> };
  t.equal(body.locations.s3?.ok, false);
  t.match(body.locations.s3?.error, /NoSuchBucket.*check STORAGE_S3_BUCKET/);
});

t.test('/metrics: requests, bytes, uploads, S3 latency, parts in flight, process metrics; bearer tokens', async (t) => {
  const app = await startApp({ ...s3LocationEnv(server, uniqueRoot('metrics')), METRICS_TOKENS: 'tok-one,tok-two' });
  t.teardown(() => app.close());
  const url = await createUpload(app.url, 6 * 1024 * 1024);
  await patch(url, 0, randomData(6 * 1024 * 1024));
  const gone = await createUpload(app.url, 10);
  await fetch(gone, { method: 'DELETE', headers: TUS });
  t.equal((await fetch(`${app.url}/metrics`)).status, 401, 'no token');
  t.equal((await fetch(`${app.url}/metrics`, { headers: { Authorization: 'Bearer wrong' } })).status, 401, 'wrong token');
  const res = await fetch(`${app.url}/metrics`, { headers: { Authorization: 'Bearer tok-two' } });
  t.equal(res.status, 200);
  const text = await res.text();
  for (const pattern of [
    /tus_http_requests_total\{method="PATCH",status="204",location="s3"\} 1/,
    /tus_received_bytes_total\{location="s3"\} 6291456/,
    /tus_uploads_total\{event="created",location="s3"\} 2/,
    /tus_uploads_total\{event="finished",location="s3"\} 1/,
    /tus_uploads_total\{event="terminated",location="s3"\} 1/,
    /tus_upload_duration_seconds_count\{location="s3"\} 1/,
    /tus_s3_request_duration_seconds_count\{location="s3",operation="PutObject",result="ok"\} \d+/,
    /tus_s3_parts_in_flight\{location="s3"\} 0/,
    /tus_lock_wait_seconds_count\{location="s3"\} \d+/,
    /tus_temp_bytes 0/,
    /process_cpu_seconds_total/,
  ]) {
    t.match(text, pattern, String(pattern));
  }
});

t.test('one log line per request with request id, upload id, location, status, bytes, duration', async (t) => {
  const app = await startApp({});
  t.teardown(() => app.close());
  const res = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': '5', 'X-Request-Id': 'req-from-client-42' },
  });
  t.equal(res.headers.get('x-request-id'), 'req-from-client-42', 'the incoming request id is echoed');
  const url = new URL(res.headers.get('location') as string, app.url).toString();
  await patch(url, 0, Buffer.from('hello'), { 'X-Request-Id': 'req-patch-43' });
  await new Promise((r) => setTimeout(r, 50));
  const lines = (await readFile(join(logDir, `app-${process.pid}.log`), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const post = lines.find((l) => l.reqId === 'req-from-client-42' && l.msg === 'request');
  t.match(post, { method: 'POST', status: 201, location: 'local', uploadId: url.split('/').pop() });
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

t.test('the demo page uploads a file in headless Chromium, with progress, and links to it', async (t) => {
  const app = await startApp({});
  t.teardown(() => app.close());
  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`${app.url}/`);
  t.match(await page.title(), 'tus-s3-server');
  const data = randomData(12 * 1024 * 1024);
  await page.setInputFiles('#files', { name: 'demo.bin', mimeType: 'application/octet-stream', buffer: data });
  await page.waitForSelector('.upload progress');
  await page.locator('a.link').waitFor({ timeout: 60000 });
  const href = await page.locator('a.link').getAttribute('href');
  t.match(href, new RegExp(`^${app.url}/files/[0-9a-f]{32}$`));
  t.equal(await page.locator('progress').evaluate((p) => (p as HTMLProgressElement).value), 100);
  t.equal(sha256(Buffer.from(await (await fetch(href as string)).arrayBuffer())), sha256(data));
  t.equal((await startAppDisabled()).status, 404, 'DEMO_ENABLED=false: no page');
});

async function startAppDisabled(): Promise<Response> {
  const app = await startApp({ DEMO_ENABLED: 'false' });
  try {
    return await fetch(`${app.url}/`);
  } finally {
    await app.close();
  }
}
