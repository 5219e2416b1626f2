/** Headless Chromium (Debian's package) driven by playwright-core, and a page server on 127.0.0.1. */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';

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

/** A new tab on `url`, collecting the page's errors and console errors (CORS failures show there). */
export async function openPage(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(url);
  return { page, errors };
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
