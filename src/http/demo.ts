/**
 * The demo page at / (DEMO_ENABLED): Uppy's Dashboard with its tus plugin. The script and
 * styles are bundled at build time (scripts/build-demo.mjs, from src/demo/) into dist/public/
 * and served from /demo/; nothing is fetched from elsewhere. The page carries the settings in
 * its markup: the endpoint of the only location, or a picker of every location's endpoint,
 * and a token field when authentication is on (the token goes in `Authorization: Bearer`).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

export interface DemoMount {
  /** The location's name. */
  name: string;
  /** Its mount path, without a trailing slash, such as /files or /files/s3. */
  path: string;
}

export interface DemoOptions {
  /** One entry per location, the default first. */
  mounts: readonly DemoMount[];
  /** Show a token field; requests carry `Authorization: Bearer <token>`. */
  authEnabled: boolean;
  /** PUBLIC_URL: the page's links and endpoints start with it (a proxy's path prefix included). */
  publicUrl?: string | undefined;
  /** Where the bundle is; by default dist/public/ of this package (the same from src/ and dist/). */
  assetsDir?: string;
}

interface Asset {
  body: string;
  type: string;
  version: string;
}

const ASSETS_DIR = fileURLToPath(new URL('../../dist/public/', import.meta.url));

/** The bundle's files, or undefined when it was not built (`npm run build`). */
function loadAssets(dir: string): Record<string, Asset> | undefined {
  const assets: Record<string, Asset> = {};
  for (const [name, type] of [
    ['demo.js', 'text/javascript; charset=utf-8'],
    ['demo.css', 'text/css; charset=utf-8'],
  ] as const) {
    let body: string;
    try {
      body = readFileSync(`${dir}/${name}`, 'utf8');
    } catch {
      return undefined;
    }
    assets[name] = { body, type, version: createHash('sha256').update(body).digest('hex').slice(0, 16) };
  }
  return assets;
}

export function registerDemoPage(app: FastifyInstance, options: DemoOptions): void {
  const assets = loadAssets(options.assetsDir ?? ASSETS_DIR);
  if (!assets) {
    app.log.warn(`the demo page's bundle is missing from ${options.assetsDir ?? ASSETS_DIR}: run npm run build; / answers 503`);
    app.get('/', async (_request, reply) =>
      reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The demo page was not built. Run `npm run build` (it bundles the page into dist/public/), then restart the server.\n'),
    );
    return;
  }
  const base = options.publicUrl ?? '';
  const page = renderPage(options, base, assets);
  const publicOrigin = options.publicUrl ? new URL(options.publicUrl).origin : undefined;
  const self = publicOrigin ? `'self' ${publicOrigin}` : `'self'`;
  const policy = [
    `default-src 'none'`,
    `script-src ${self}`,
    `style-src ${self}`,
    // Dashboard previews of images are blob: URLs; its icons are inline SVG (data:).
    `img-src ${self} blob: data:`,
    `connect-src ${self}`,
    `base-uri 'none'`,
    `form-action 'none'`,
    `frame-ancestors 'none'`,
  ].join('; ');

  app.get('/', async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('Cache-Control', 'no-store')
      .header('Content-Security-Policy', policy)
      .header('X-Content-Type-Options', 'nosniff')
      .header('Referrer-Policy', 'no-referrer')
      .send(page),
  );
  for (const [name, asset] of Object.entries(assets)) {
    const etag = `"${asset.version}"`;
    app.get<{ Querystring: { v?: string } }>(`/demo/${name}`, async (request, reply) => {
      // The page asks for ?v=<hash of the content>: such a URL never changes, so it may be kept a year.
      reply
        .type(asset.type)
        .header('ETag', etag)
        .header('X-Content-Type-Options', 'nosniff')
        .header('Cache-Control', request.query.v === asset.version ? 'public, max-age=31536000, immutable' : 'no-cache');
      if (request.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.send(asset.body);
    });
  }
}

/** Text for HTML content and attribute values. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function renderPage(options: DemoOptions, base: string, assets: Record<string, Asset>): string {
  const endpointOf = (mount: DemoMount) => `${base}${mount.path}/`;
  const [first] = options.mounts;
  const asset = (name: string) => escapeHtml(`${base}/demo/${name}?v=${assets[name]?.version ?? ''}`);
  const picker =
    options.mounts.length > 1
      ? `<label>Location
  <select id="location">
${options.mounts.map((m) => `    <option value="${escapeHtml(endpointOf(m))}">${escapeHtml(m.name)} (${escapeHtml(`${m.path}/`)})</option>`).join('\n')}
  </select>
</label>`
      : '';
  const token = options.authEnabled
    ? `<label>Access token
  <input id="token" type="password" autocomplete="off" spellcheck="false" placeholder="sent as Authorization: Bearer …">
</label>`
    : '';
  // tus-js-client speaks tus 1.0.0 or the IETF draft (src/http/ietf.ts) to the same endpoints.
  const protocol = `<label>Protocol
  <select id="protocol">
    <option value="tus">tus 1.0.0</option>
    <option value="ietf-draft-03">IETF draft -03 (interop version 5)</option>
    <option value="ietf-draft-05">IETF draft -05 (interop version 6)</option>
  </select>
</label>`;
  const where =
    first && options.mounts.length === 1 ? `<p class="endpoint">Uploads go to <code>${escapeHtml(endpointOf(first))}</code>.</p>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tus-s3-server</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${asset('demo.css')}">
<script src="${asset('demo.js')}" defer></script>
</head>
<body>
<h1>tus-s3-server</h1>
<p>Resumable uploads with the <a href="https://tus.io/">tus</a> protocol. Drop files below or browse; pause, resume or retry each one.</p>
<div class="settings">
${[picker, protocol, token].filter(Boolean).join('\n')}
</div>
${where}
<div id="dashboard" data-endpoint="${escapeHtml(first ? endpointOf(first) : '')}"></div>
<p id="speed" hidden></p>
<section id="uploaded" hidden>
<h2>Uploaded</h2>
<ul></ul>
</section>
<noscript>This page needs JavaScript.</noscript>
</body>
</html>
`;
}
