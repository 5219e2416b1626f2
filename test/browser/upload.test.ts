/**
 * Browsers uploading cross-origin: a page served from one 127.0.0.1 port uploads 20 MiB to
 * the tus server on another, with tus-js-client and with Uppy's tus plugin, and tus-js-client
 * cut off and resumed, on every driver (local, S3, Azure); the stored file, object or blob is
 * checked itself. CORS must be right or the browser blocks the responses.
 */
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import t from 'tap';
import { startAppFor } from '../helpers/app.js';
import { appOnEachLocation, browserAndPages, CUT_AND_RESUME_PAGE, cutAndResumeIn, openPage, uppyBundle } from '../helpers/browser.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { storedSha256 } from '../helpers/drivers.js';
import { idOf } from '../helpers/ids.js';
import { s3LocationEnv, s3TestServer, uniqueRoot } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';

const TUS_PAGE = `<!doctype html><script src="/tus.js"></script><script>
window.runTus = async (endpoint, headers = {}) => {
  const blob = await (await fetch('/data.bin')).blob();
  const progress = [];
  const url = await new Promise((resolve, reject) => {
    const upload = new tus.Upload(blob, {
      endpoint, headers, chunkSize: 5 * 1024 * 1024, retryDelays: [0, 500],
      metadata: { filename: 'browser.bin', filetype: 'application/octet-stream' },
      onProgress: (sent, total) => progress.push([sent, total]),
      onError: reject, onSuccess: () => resolve(upload.url),
    });
    upload.start();
  });
  return { url, progress };
};
</script>`;

const UPPY_PAGE = `<!doctype html><script src="/uppy.js"></script><script>
window.runUppy = async (endpoint) => {
  const blob = await (await fetch('/data.bin')).blob();
  const progress = [];
  const uppy = new Uppy({ autoProceed: false }).use(UppyTus, { endpoint, chunkSize: 8 * 1024 * 1024, retryDelays: [0, 500] });
  uppy.on('upload-progress', (_file, p) => progress.push([p.bytesUploaded, p.bytesTotal]));
  uppy.addFile({ name: 'uppy.bin', type: 'application/octet-stream', data: blob });
  const result = await uppy.upload();
  if (result.failed && result.failed.length) throw new Error(String(result.failed[0].error));
  return { url: result.successful[0].uploadURL, progress };
};
</script>`;

t.test('browsers upload 20 MiB cross-origin with progress', async (t) => {
  const data = randomData(20 * MiB);
  const expected = sha256(data);
  const { browser, pages } = await browserAndPages(
    t,
    data,
    { '/tus.html': TUS_PAGE, '/uppy.html': UPPY_PAGE },
    { '/uppy.js': await uppyBundle() },
  );

  for (const [name, app, env] of await appOnEachLocation(t, 'browser')) {
    for (const client of ['tus', 'uppy'] as const) {
      t.test(`${client} on the ${name} location`, async (t) => {
        const { page, errors } = await openPage(browser, `${pages.url}/${client}.html`);
        const result = (await page.evaluate(`window.run${client === 'tus' ? 'Tus' : 'Uppy'}(${JSON.stringify(`${app.url}/files/`)})`)) as {
          url: string;
          progress: Array<[number, number]>;
        };
        await page.close();
        t.same(errors, [], 'no browser errors (CORS would show here)');
        t.match(result.url, new RegExp(`^${app.url}/files/[0-9a-f]{32}$`));
        t.ok(result.progress.length >= 3, `${result.progress.length} progress events`);
        t.same(result.progress.at(-1), [data.length, data.length], 'progress ends at the full size');
        const stored = Buffer.from(await (await fetch(result.url)).arrayBuffer());
        t.equal(sha256(stored), expected, 'downloaded sha256');
        t.equal(await storedSha256(name, env, app.root, idOf(result.url)), expected, 'the stored file, object or blob itself');
      });
    }
  }
});

t.test('tus-js-client in Chromium cut off mid-upload and resumed into the same upload', async (t) => {
  const data = randomData(16 * MiB + 3);
  const expected = sha256(data);
  const { browser, pages } = await browserAndPages(t, data, { '/cut.html': CUT_AND_RESUME_PAGE });
  for (const [name, app, env] of await appOnEachLocation(t, 'browser-cut')) {
    t.test(`on the ${name} location`, async (t) => {
      // The aborted request shows as a failed load in the console; anything else is a defect.
      const run = { endpoint: `${app.url}/files/`, protocol: 'tus-v1', cutAt: 7.5 * MiB, resumedAtLeast: 5 * MiB };
      const result = await cutAndResumeIn(t, browser, `${pages.url}/cut.html`, run);
      t.equal(await storedSha256(name, env, app.root, idOf(result.url)), expected, 'the stored file, object or blob is the data');
    });
  }
});

t.test('tus-js-client in Chromium with a bearer token (headers option), cross-origin, on S3 with authentication on', async (t) => {
  const data = randomData(12 * MiB);
  const { browser, pages } = await browserAndPages(t, data, { '/tus.html': TUS_PAGE });
  const secret = randomBytes(32).toString('hex');
  const app = await startAppFor(t, { ...s3LocationEnv(s3TestServer(), uniqueRoot('browser-auth')), AUTH_JWT_SECRET: secret });
  const token = await new SignJWT({ sub: 'browser-user' })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(secret));
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${pages.url}/tus.html`);
  const endpoint = JSON.stringify(`${app.url}/files/`);
  const result = (await page.evaluate(`window.runTus(${endpoint}, { Authorization: 'Bearer ${token}' })`)) as { url: string };
  t.same(errors, [], 'no browser errors (the Authorization header passes CORS)');
  const stored = await fetch(result.url, { headers: { Authorization: `Bearer ${token}` } });
  t.equal(sha256(Buffer.from(await stored.arrayBuffer())), sha256(data), 'stored sha256');
  t.equal((await fetch(result.url)).status, 401, 'the download needs the token too');
  const refused = await page.evaluate(`window.runTus(${endpoint}).then(() => 'uploaded', (e) => String(e))`);
  t.match(refused, /response code: 401/, 'without the token the browser client is refused');
  await page.close();
});
