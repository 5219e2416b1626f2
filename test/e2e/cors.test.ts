import t from 'tap';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { startAppFor, TUS } from '../helpers/app.js';

t.test('CORS by default: any origin, tus headers allowed and exposed', async (t) => {
  const app = await startAppFor(t);
  const pre = await fetch(`${app.url}/files/`, {
    method: 'OPTIONS',
    headers: {
      Origin: 'http://app.example',
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'tus-resumable,upload-length,upload-metadata',
    },
  });
  t.equal(pre.status, 204);
  t.equal(pre.headers.get('access-control-allow-origin'), '*');
  t.match(pre.headers.get('access-control-allow-methods'), /PATCH/);
  t.match(pre.headers.get('access-control-allow-headers'), /Tus-Resumable.*Upload-Length.*Upload-Metadata.*Upload-Offset/);
  t.equal(pre.headers.get('access-control-max-age'), '86400');
  const post = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, Origin: 'http://app.example', 'Upload-Length': '1' },
  });
  t.equal(post.status, 201);
  t.equal(post.headers.get('access-control-allow-origin'), '*');
  const exposed = post.headers.get('access-control-expose-headers') ?? '';
  for (const h of [
    'Location',
    'Upload-Offset',
    'Upload-Length',
    'Upload-Metadata',
    'Upload-Expires',
    'Tus-Version',
    'Tus-Resumable',
    'ETag',
  ])
    t.match(exposed, h);
});

t.test('CORS_ORIGIN with a list and a regular expression; a disallowed origin gets no CORS headers', async (t) => {
  const app = await startAppFor(t, {
    CORS_ORIGIN: 'https://one.example,/^https:\\/\\/[a-z]+\\.two\\.example$/',
    CORS_CREDENTIALS: 'true',
    CORS_MAX_AGE: '60',
  });
  for (const origin of ['https://one.example', 'https://app.two.example']) {
    const res = await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, Origin: origin, 'Upload-Length': '1' } });
    t.equal(res.headers.get('access-control-allow-origin'), origin, origin);
    t.equal(res.headers.get('access-control-allow-credentials'), 'true');
  }
  for (const origin of ['https://evil.example', 'https://x.two.example.evil']) {
    const res = await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, Origin: origin, 'Upload-Length': '1' } });
    t.equal(res.status, 201);
    t.equal(res.headers.get('access-control-allow-origin'), null, `${origin}: no CORS headers`);
    t.equal(res.headers.get('access-control-expose-headers'), null);
  }
  const pre = await fetch(`${app.url}/files/`, {
    method: 'OPTIONS',
    headers: { Origin: 'https://one.example', 'Access-Control-Request-Method': 'PATCH' },
  });
  t.equal(pre.headers.get('access-control-max-age'), '60');
});

t.test('CORS_ENABLED=false: no CORS headers; a bad CORS_ORIGIN stops start-up', async (t) => {
  const app = await startAppFor(t, { CORS_ENABLED: 'false' });
  const res = await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, Origin: 'https://a.example', 'Upload-Length': '1' } });
  t.equal(res.headers.get('access-control-allow-origin'), null);
  t.throws(() => parseConfig({ CORS_ORIGIN: 'app.example' }), ConfigError);
  t.throws(() => parseConfig({ CORS_ORIGIN: '/(/' }), /CORS_ORIGIN=.*not a valid regular expression/);
});
