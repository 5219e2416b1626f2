/** Headless Chromium (Debian's package) driven by playwright-core, and a page server on 127.0.0.1. */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { Test } from 'tap';
import { type RunningApp, startAppFor } from './app.js';
import { type DriverName, everyDriver } from './drivers.js';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** A new tab on `url`, collecting the page's errors and console errors (CORS failures show there); `status` is the page's HTTP status. */
export async function openPage(browser: Browser, url: string): Promise<{ page: Page; errors: string[]; status: number | undefined }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  const response = await page.goto(url);
  return { page, errors, status: response?.status() };
}

/** tus-js-client's browser build, as a page loads it from /tus.js. */
export const tusClientScript = (): string => readFileSync(createRequire(import.meta.url).resolve('tus-js-client/dist/tus.min.js'), 'utf8');

/**
 * A browser, and a page server on another origin serving `html` (path -> HTML), tus-js-client at
 * /tus.js, `data` at /data.bin and `scripts` (path -> JavaScript); both closed with the test.
 */
export async function browserAndPages(
  t: Test,
  data: Buffer,
  html: Record<string, string>,
  scripts: Record<string, string> = {},
): Promise<{ browser: Browser; pages: { url: string; server: Server } }> {
  const served: Record<string, { type: string; body: string | Buffer }> = {};
  for (const [path, body] of Object.entries(html)) served[path] = { type: 'text/html', body };
  for (const [path, body] of Object.entries({ '/tus.js': tusClientScript(), ...scripts })) served[path] = { type: 'text/javascript', body };
  served['/data.bin'] = { type: 'application/octet-stream', body: data };
  const pages = await servePages(served);
  t.teardown(() => pages.server.close());
  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  return { browser, pages };
}

/**
 * A page whose `cutAndResume(endpoint, protocol, cutAt)` uploads /data.bin with tus-js-client
 * (`protocol`: 'tus-v1', 'ietf-draft-03', 'ietf-draft-05'), aborts once `cutAt` bytes were
 * sent, and resumes the same upload from its URL (a HEAD asks for the offset).
 */
export const CUT_AND_RESUME_PAGE = `<!doctype html><script src="/tus.js"></script><script>
window.cutAndResume = async (endpoint, protocol, cutAt) => {
  const blob = await (await fetch('/data.bin')).blob();
  const options = { endpoint, protocol, chunkSize: 5 * 1024 * 1024, retryDelays: [0, 500],
    metadata: { filename: 'ietf.bin', filetype: 'application/octet-stream' } };
  const requests = [];
  const first = new tus.Upload(blob, { ...options, onBeforeRequest: (req) => { requests.push(req.getMethod()); } });
  await new Promise((resolve, reject) => {
    first.options.onProgress = (sent) => { if (sent >= cutAt) first.abort().then(resolve, reject); };
    first.options.onError = reject;
    first.options.onSuccess = () => reject(new Error('finished before the cut'));
    first.start();
  });
  let resumedFrom = -1;
  const second = new tus.Upload(blob, { ...options, uploadUrl: first.url,
    onBeforeRequest: (req) => { requests.push(req.getMethod()); } });
  await new Promise((resolve, reject) => {
    second.options.onProgress = (sent) => { if (resumedFrom < 0) resumedFrom = sent; };
    second.options.onError = reject;
    second.options.onSuccess = resolve;
    second.start();
  });
  return { url: second.url, firstUrl: first.url, resumedFrom, requests };
};
</script>`;

/** Uppy core + tus plugin as one script (window.Uppy, window.UppyTus). */
export async function uppyBundle(): Promise<string> {
  const out = await build({
    entryPoints: [resolve(import.meta.dirname, '../browser/uppy-entry.js')],
    bundle: true,
    format: 'iife',
    write: false,
    minify: true,
    logLevel: 'error',
  });
  return out.outputFiles[0]?.text ?? '';
}

/** Serve fixed paths from memory on 127.0.0.1 (another origin than the tus server). */
export async function servePages(pages: Record<string, { type: string; body: string | Buffer }>): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const page = pages[path];
    if (path === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (!page) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': page.type, 'Content-Length': Buffer.byteLength(page.body) }).end(page.body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, server };
}

/**
 * The app started on every driver (local, S3, Azure; a fresh root named after `name`), each
 * closed with the test, with the environment it was started with.
 */
export async function appOnEachLocation(t: Test, name: string): Promise<Array<readonly [DriverName, RunningApp, Record<string, string>]>> {
  const apps: Array<readonly [DriverName, RunningApp, Record<string, string>]> = [];
  for (const [driver, envOf] of everyDriver(name)) {
    const env = envOf();
    apps.push([driver, await startAppFor(t, env), env]);
  }
  return apps;
}

/** What a cut-and-resume page reports (`window.cutAndResume`: CUT_AND_RESUME_PAGE, the IETF page). */
export interface CutAndResume {
  url: string;
  firstUrl: string;
  resumedFrom: number;
  requests: string[];
}

/**
 * Open `pageUrl`, run `window.cutAndResume(endpoint, protocol, cutAt)` and check what any cut and
 * resume must show: no browser error but the aborted request (CORS would show here), the same
 * upload resumed after a HEAD, from `resumedAtLeast` on, not from the start.
 */
export async function cutAndResumeIn(
  t: Test,
  browser: Browser,
  pageUrl: string,
  run: { endpoint: string; protocol: string; cutAt: number; resumedAtLeast: number },
): Promise<CutAndResume> {
  const { page, errors } = await openPage(browser, pageUrl);
  const args = [run.endpoint, run.protocol, run.cutAt].map((a) => JSON.stringify(a)).join(', ');
  const result = (await page.evaluate(`window.cutAndResume(${args})`)) as CutAndResume;
  await page.close();
  t.same(
    errors.filter((e) => !/net::ERR_ABORTED|Failed to load resource/.test(e)),
    [],
    'no browser errors',
  );
  t.equal(result.url, result.firstUrl, 'resumed into the same upload');
  t.ok(result.requests.includes('HEAD'), `the resume asked for the offset (${result.requests.join(' ')})`);
  t.ok(result.resumedFrom >= run.resumedAtLeast, `resumed from ${result.resumedFrom}, not from the start`);
  return result;
}
