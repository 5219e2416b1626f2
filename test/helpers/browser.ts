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
import { s3LocationEnv, s3TestServer, uniqueRoot } from './s3.js';

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

/** The app started on a local and on an S3 location (a fresh root named after `name`), both closed with the test. */
export async function appOnEachLocation(t: Test, name: string): Promise<Array<readonly ['local' | 's3', RunningApp]>> {
  const apps: Array<readonly ['local' | 's3', RunningApp]> = [];
  for (const [location, env] of [
    ['local', {}],
    ['s3', s3LocationEnv(s3TestServer(), uniqueRoot(name))],
  ] as const) {
    const app = await startAppFor(t, env);
    apps.push([location, app]);
  }
  return apps;
}
