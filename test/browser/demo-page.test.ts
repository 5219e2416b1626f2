/**
 * The demo page at / (Uppy's Dashboard with its tus plugin, bundled by `npm run build`) driven
 * in headless Chromium the way a user does: files added through the Dashboard's file input,
 * its Upload button, its pause and resume button; a location picker with several locations;
 * a token field with authentication on; behind a proxy path (PUBLIC_URL) at another TUS_PATH.
 * Every upload's bytes are checked on the server (HEAD offset, then GET sha256).
 */
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { parseConfig } from '../../src/config/index.js';
import { startApp, startAppFor, TUS } from '../helpers/app.js';
import { launchBrowser, openPage } from '../helpers/browser.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { s3LocationEnv, s3TestServer, uniqueRoot } from '../helpers/s3.js';
import { KiB, MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

interface DemoFile {
  name: string;
  data: Buffer;
}

/** A new tab on the demo page; browser errors (CSP violations and failed requests included) are collected. */
async function openDemo(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const { page, errors, status } = await openPage(browser, url);
  if (status !== 200) throw new Error(`${url}: ${status}`);
  await page.locator('.uppy-Dashboard-inner').waitFor();
  return { page, errors };
}

/** An app with `env` and a tab on its demo page, both closed with the test. */
async function demoOn(t: Test, browser: Browser, env: Record<string, string> = {}) {
  const app = await startAppFor(t, env);
  const { page, errors } = await openDemo(browser, `${app.url}/`);
  t.teardown(() => page.close());
  return { app, page, errors };
}

/** Add files as the Dashboard's "browse files" does: through its hidden file input. */
async function addFiles(page: Page, files: DemoFile[]): Promise<void> {
  const listed = await page.locator('.uppy-Dashboard-Item').count();
  const input = page.locator('input.uppy-Dashboard-input[name="files[]"]:not([webkitdirectory])');
  // With files listed, the input is in the "Add more" panel.
  if ((await input.count()) === 0) await page.locator('button.uppy-DashboardContent-addMore').click();
  await input.first().setInputFiles(files.map((f) => ({ name: f.name, mimeType: 'application/octet-stream', buffer: f.data })));
  await until(async () => (await page.locator('.uppy-Dashboard-Item').count()) === listed + files.length, `${files.length} files added`);
}

async function clickUpload(page: Page): Promise<void> {
  await page.locator('button.uppy-StatusBar-actionBtn--upload').click();
}

/** Wait until the page lists `n` finished uploads; returns file name -> URL from the page's "Uploaded" list. */
async function finished(page: Page, n: number, timeoutMs = 60_000): Promise<Map<string, string>> {
  await until(
    async () =>
      (await page.locator('.uppy-Dashboard-Item.is-complete').count()) === n && (await page.locator('#uploaded li a').count()) === n,
    `${n} uploads complete`,
    timeoutMs,
  );
  const items = await page
    .locator('#uploaded li')
    .evaluateAll((lis) => lis.map((li) => [li.textContent?.split(' → ')[0] ?? '', li.querySelector('a')?.getAttribute('href') ?? '']));
  return new Map(items as Array<[string, string]>);
}

/** The server has every byte: HEAD's Upload-Offset is the size and GET returns the same sha256. */
async function assertStored(t: Test, url: string, data: Buffer, headers: Record<string, string> = {}): Promise<void> {
  const head = await fetch(url, { method: 'HEAD', headers: { ...TUS, ...headers } });
  t.equal(head.status, 200, `HEAD ${url}`);
  t.equal(head.headers.get('upload-offset'), String(data.length), 'Upload-Offset is the size');
  t.equal(head.headers.get('upload-length'), String(data.length), 'Upload-Length is the size');
  const get = await fetch(url, { headers });
  t.equal(get.status, 200, `GET ${url}`);
  t.equal(sha256(Buffer.from(await get.arrayBuffer())), sha256(data), 'the stored bytes are the file, byte for byte');
}

const upload = (path: string) => new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[0-9a-f]{32}$`);

t.test('the demo page', async (t) => {
  const browser = await launchBrowser();
  t.teardown(() => browser.close());

  t.test('two files: listed with human-readable sizes, uploaded with the Dashboard, byte-exact', async (t) => {
    const { app, page, errors } = await demoOn(t, browser);
    t.equal(await page.title(), 'tus-s3-server');
    t.equal(await page.locator('#location').count(), 0, 'one location: no picker');
    t.equal(await page.locator('#token').count(), 0, 'authentication off: no token field');
    t.equal(await page.locator('.endpoint code').textContent(), '/files/', 'the endpoint is shown');
    const files = [
      { name: 'first.bin', data: randomData(1.5 * MiB) },
      { name: 'second.bin', data: randomData(300 * KiB) },
    ];
    await addFiles(page, files);
    t.same(await page.locator('.uppy-Dashboard-Item-statusSize').allTextContents(), ['1.5 MB', '300 KB'], 'human-readable sizes');
    await clickUpload(page);
    const urls = await finished(page, 2);
    t.same([...urls.keys()].sort(), ['first.bin', 'second.bin']);
    for (const f of files) {
      const url = urls.get(f.name) as string;
      t.match(url, upload(`${app.url}/files/`), `${f.name}: the link to the upload`);
      await assertStored(t, url, f.data);
      // The Dashboard links the finished file too.
      t.equal(await page.locator(`a.uppy-Dashboard-Item-previewLink[href="${url}"]`).count(), 1, `${f.name}: linked in the Dashboard`);
    }
    t.match(await page.locator('.uppy-StatusBar').textContent(), /Complete/);
    t.same(errors, [], 'no browser errors');
  });

  t.test('pause and resume a larger file with the Dashboard: the same upload continues, byte-exact', async (t) => {
    const { app, page, errors } = await demoOn(t, browser);
    // Slow the browser's uploads down (Chromium's own network throttling) so there is time to pause.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    const throttle = (bytesPerSecond: number) =>
      cdp.send('Network.emulateNetworkConditions', {
        offline: false,
        latency: 0,
        downloadThroughput: -1,
        uploadThroughput: bytesPerSecond,
      });
    await throttle(2 * MiB);
    const file = { name: 'large.bin', data: randomData(24 * MiB) };
    await addFiles(page, [file]);
    t.equal(await page.locator('.uppy-Dashboard-Item-statusSize').textContent(), '24 MB');
    await clickUpload(page);

    // While it runs: bytes sent of the total, time left, speed.
    // Such as "3.5 MB of 24 MB · 10s left" (or "1m 05s left").
    const DETAILS = /^\d+(\.\d)? MB of 24 MB · (\d+h)?( ?\d+m)?( ?\d+s)? left$/;
    const details = page.locator('.uppy-StatusBar-additionalInfo');
    let progress = '';
    await until(async () => {
      progress = ((await details.textContent()) ?? '').trim();
      return DETAILS.test(progress);
    }, 'bytes sent, total and time left');
    t.match(progress, DETAILS, `progress details: ${progress}`);
    await until(async () => await page.locator('#speed').isVisible(), 'the speed');
    t.match(await page.locator('#speed').textContent(), /^Speed: \d+(\.\d)? (KB|MB)\/s$/, 'the speed');

    const indicator = page.locator('.uppy-Dashboard-Item button.uppy-Dashboard-Item-progressIndicator');
    t.equal(await indicator.getAttribute('title'), 'Pause upload');
    await until(
      async () => Number(((await page.locator('.uppy-StatusBar-statusPrimary').textContent()) ?? '').match(/(\d+)%/)?.[1]) >= 10,
      '10%',
    );
    await indicator.click();
    await until(async () => (await indicator.getAttribute('title')) === 'Resume upload', 'paused');
    t.equal(
      await page
        .locator('.uppy-StatusBar-statusPrimary')
        .textContent()
        .then((s) => s?.startsWith('Paused')),
      true,
      'the Dashboard says paused',
    );

    // The server holds one upload with part of the bytes.
    const ids = readdirSync(app.root).filter((f) => /^[0-9a-f]{32}$/.test(f));
    t.equal(ids.length, 1, 'one upload on disk');
    const id = ids[0] as string;
    let offset = 0;
    await until(async () => {
      const head = await fetch(`${app.url}/files/${id}`, { method: 'HEAD', headers: TUS });
      offset = Number(head.headers.get('upload-offset'));
      return head.status === 200 && offset > 0;
    }, 'bytes on the server');
    t.ok(offset > 0 && offset < file.data.length, `paused with ${offset} of ${file.data.length} bytes stored`);

    await throttle(-1);
    await indicator.click();
    const urls = await finished(page, 1);
    const url = urls.get(file.name) as string;
    t.equal(url, `${app.url}/files/${id}`, 'resumed: the same upload, not a new one');
    t.same(
      readdirSync(app.root).filter((f) => /^[0-9a-f]{32}$/.test(f)),
      [id],
      'still one upload on disk',
    );
    await assertStored(t, url, file.data);
    t.same(errors, [], 'no browser errors');
  });

  t.test('the protocol switch: the Dashboard uploads over the IETF draft (interop version 6), byte-exact', async (t) => {
    const { app, page, errors } = await demoOn(t, browser);
    t.same(
      await page.locator('#protocol option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value)),
      ['tus', 'ietf-draft-03', 'ietf-draft-05'],
      'tus 1.0.0 first, then the two drafts',
    );
    // What the browser sends: every upload request in the draft's dialect, none in tus's.
    const sent: Array<{ method: string; interop?: string; tus?: string }> = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(`${app.url}/files/`) || r.method() === 'OPTIONS') return;
      const h = r.headers();
      sent.push({ method: r.method(), interop: h['upload-draft-interop-version'], tus: h['tus-resumable'] });
    });
    await page.locator('#protocol').selectOption('ietf-draft-05');
    const file = { name: 'over-ietf.bin', data: randomData(9 * MiB + 5) };
    await addFiles(page, [file]);
    await clickUpload(page);
    const url = (await finished(page, 1)).get(file.name) as string;
    t.match(url, upload(`${app.url}/files/`));
    t.ok(
      sent.some((r) => r.method === 'POST') && sent.some((r) => r.method === 'PATCH'),
      `requests: ${sent.map((r) => r.method).join(' ')}`,
    );
    t.ok(
      sent.every((r) => r.interop === '6' && r.tus === undefined),
      'each carried Upload-Draft-Interop-Version: 6 and no Tus-Resumable',
    );
    await assertStored(t, url, file.data);
    t.same(errors, [], 'no browser errors');
  });

  t.test('several locations: the picker sets the endpoint and the upload lands in the chosen one', async (t) => {
    const root = uniqueRoot('demo');
    const { app, page, errors } = await demoOn(t, browser, {
      ...s3LocationEnv(s3TestServer(), root),
      STORAGE_LOCATIONS: 'local,s3',
      STORAGE_LOCAL_DRIVER: 'local',
    });
    t.same(
      await page.locator('#location option').evaluateAll((os) => os.map((o) => [o.textContent, (o as HTMLOptionElement).value])),
      [
        ['local (/files/)', '/files/'],
        ['s3 (/files/s3/)', '/files/s3/'],
      ],
      'one entry per location, the default first',
    );
    await page.locator('#location').selectOption({ label: 's3 (/files/s3/)' });
    const file = { name: 'to-s3.bin', data: randomData(6 * MiB + 7) };
    await addFiles(page, [file]);
    await clickUpload(page);
    const url = (await finished(page, 1)).get(file.name) as string;
    t.match(url, upload(`${app.url}/files/s3/`), 'uploaded to the s3 location');
    await assertStored(t, url, file.data);
    t.same(readdirSync(app.root), [], 'nothing in the local location');

    // Back to the first location: the next file goes there.
    await page.locator('#location').selectOption({ label: 'local (/files/)' });
    const second = { name: 'to-local.bin', data: randomData(100 * KiB) };
    await addFiles(page, [second]); // the finished one stays listed
    await page.locator('button.uppy-StatusBar-actionBtn--uploadNewlyAdded, button.uppy-StatusBar-actionBtn--upload').first().click();
    const local = (await finished(page, 2)).get(second.name) as string;
    t.match(local, upload(`${app.url}/files/`), 'uploaded to the local location');
    t.same(
      readdirSync(app.root).filter((f) => /^[0-9a-f]{32}$/.test(f)),
      [local.slice(-32)],
      'on the local disk',
    );
    await assertStored(t, local, second.data);
    t.same(errors, [], 'no browser errors');
  });

  t.test('behind a proxy path (PUBLIC_URL) at another TUS_PATH', async (t) => {
    const proxy = await startProxy('/prefix');
    t.teardown(() => proxy.server.close());
    const app = await startAppFor(t, { TUS_PATH: '/up/loads/', PUBLIC_URL: `${proxy.url}/prefix` });
    proxy.target = app.url;
    const { page, errors } = await openDemo(browser, `${proxy.url}/prefix/`);
    t.teardown(() => page.close());
    t.equal(await page.locator('.endpoint code').textContent(), `${proxy.url}/prefix/up/loads/`);
    const file = { name: 'proxied.bin', data: randomData(9 * MiB + 1) };
    await addFiles(page, [file]);
    await clickUpload(page);
    const url = (await finished(page, 1)).get(file.name) as string;
    t.match(url, upload(`${proxy.url}/prefix/up/loads/`), 'the public URL of the upload');
    await assertStored(t, url, file.data);
    t.ok(proxy.paths.includes('/demo/demo.js') && proxy.paths.includes('/demo/demo.css'), 'the bundle came through the proxy');
    t.ok(
      proxy.paths.some((p) => p.startsWith('/up/loads/')),
      'the uploads went through the proxy',
    );
    t.same(errors, [], 'no browser errors');
  });

  t.test('authentication on: a token field; the token is sent as a bearer token', async (t) => {
    const token = 'demo-page-token-0123456789abcdef';
    const { app, page, errors } = await demoOn(t, browser, {
      AUTH_STATIC_TOKENS: `demo:${sha256(Buffer.from(token))}`,
      DEMO_ENABLED: 'true',
    });
    const field = page.locator('#token');
    t.equal(await field.getAttribute('type'), 'password');
    const file = { name: 'with-token.bin', data: randomData(2 * MiB + 3) };

    // Without the token the server refuses and the Dashboard says so.
    await addFiles(page, [file]);
    await clickUpload(page);
    await until(async () => (await page.locator('.uppy-Dashboard-Item.is-error').count()) === 1, 'the upload refused', 30_000);
    t.match(await page.locator('.uppy-StatusBar').textContent(), /Upload failed/);
    t.ok(
      errors.some((e) => /401/.test(e)),
      'the browser saw 401',
    );
    errors.length = 0;

    // With it: the Dashboard's retry uploads.
    await field.fill(token);
    await page.locator('button.uppy-StatusBar-actionBtn--retry').click();
    const url = (await finished(page, 1)).get(file.name) as string;
    t.match(url, upload(`${app.url}/files/`));
    await assertStored(t, url, file.data, { Authorization: `Bearer ${token}` });
    t.equal((await fetch(url, { method: 'HEAD', headers: TUS })).status, 401, 'the upload needs the token');

    // Kept for the tab only (sessionStorage), never in localStorage.
    t.equal(await page.evaluate(() => [sessionStorage.length, localStorage.getItem('tus-s3-server.token')].join()), '1,');
    await page.reload();
    t.equal(await page.locator('#token').inputValue(), token, 'the token is remembered in this tab');
    t.same(errors, [], 'no browser errors');
  });
});

t.test('the page is off when DEMO_ENABLED=false, and by default when authentication is on', async (t) => {
  const envs: Array<Record<string, string>> = [
    { DEMO_ENABLED: 'false' },
    { AUTH_STATIC_TOKENS: `demo:${sha256(Buffer.from('x'))}` },
    { AUTH_JWT_SECRET: 'a-shared-secret-of-at-least-32-characters!' },
  ];
  for (const env of envs) {
    const app = await startApp(env);
    for (const path of ['/', '/demo/demo.js', '/demo/demo.css']) {
      t.equal((await fetch(`${app.url}${path}`)).status, 404, `${Object.keys(env).join(',')}: ${path} 404`);
    }
    await app.close();
  }
  t.throws(() => parseConfig({ DEMO_ENABLED: 'maybe' }), { message: /DEMO_ENABLED="maybe": expected true or false/ });
  const on = await startApp({ DEMO_ENABLED: 'true', AUTH_JWT_SECRET: 'a-shared-secret-of-at-least-32-characters!' });
  t.equal((await fetch(`${on.url}/`)).status, 200, 'DEMO_ENABLED=true with authentication on: the page');
  await on.close();
});

t.test('the bundle is served with its type and cache headers; the page names its version', async (t) => {
  const app = await startAppFor(t, {});
  const page = await fetch(`${app.url}/`);
  t.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  t.equal(page.headers.get('cache-control'), 'no-store');
  t.match(page.headers.get('content-security-policy'), /default-src 'none'; script-src 'self'; style-src 'self'/);
  const html = await page.text();
  for (const [name, type] of [
    ['demo.js', 'text/javascript; charset=utf-8'],
    ['demo.css', 'text/css; charset=utf-8'],
  ] as const) {
    const version = new RegExp(`/demo/${name.replace('.', '\\.')}\\?v=([0-9a-f]{16})"`).exec(html)?.[1];
    t.ok(version, `the page asks for ${name} by version`);
    const res = await fetch(`${app.url}/demo/${name}?v=${version}`);
    t.equal(res.status, 200);
    t.equal(res.headers.get('content-type'), type);
    t.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable', 'a versioned URL is kept');
    t.equal(res.headers.get('etag'), `"${version}"`);
    const body = Buffer.from(await res.arrayBuffer());
    t.equal(sha256(body).slice(0, 16), version, 'the version is the content hash');
    t.ok(body.length > 20 * KiB, `${name}: ${body.length} bytes, bundled`);
    const unversioned = await fetch(`${app.url}/demo/${name}`);
    t.equal(unversioned.headers.get('cache-control'), 'no-cache', 'without the version: revalidated');
    const again = await fetch(`${app.url}/demo/${name}`, { headers: { 'If-None-Match': `"${version}"` } });
    t.equal(again.status, 304);
  }
  t.notMatch(html, /https?:\/\/(?!tus\.io)/, 'nothing from elsewhere');
});

/** A reverse proxy on 127.0.0.1 that serves the app under `prefix` (the prefix is removed) and records the paths it forwards. */
async function startProxy(prefix: string): Promise<{ url: string; server: Server; target: string; paths: string[] }> {
  const state = { url: '', server: undefined as unknown as Server, target: '', paths: [] as string[] };
  state.server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (!url.startsWith(`${prefix}/`)) {
      res.writeHead(404).end();
      return;
    }
    const path = url.slice(prefix.length);
    state.paths.push(path.split('?')[0] as string);
    const target = new URL(state.target);
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path, headers: { ...req.headers, host: target.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  state.server.listen(0, '127.0.0.1');
  await once(state.server, 'listening');
  state.url = `http://127.0.0.1:${(state.server.address() as { port: number }).port}`;
  return state;
}
