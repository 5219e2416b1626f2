/**
 * The Host header and a proxy's forwarded origin, which `Location` is made of when PUBLIC_URL is
 * unset (issue 21, point 7): only a host name or IP literal with an optional port is accepted,
 * anything else is 400 before anything is created; X-Forwarded-Host/-Proto and Forwarded count
 * only from a proxy IP_TRUST_PROXY names. Raw sockets: fetch never sends a malformed Host.
 */
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import t from 'tap';
import { createUpload, patch, startAppFor } from '../helpers/app.js';

interface Raw {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One request over a raw connection, headers exactly as given (Connection: close added). */
function raw(base: string, method: string, path: string, headers: Record<string, string> | Array<[string, string]>): Promise<Raw> {
  const { hostname, port } = new URL(base);
  const fields = Array.isArray(headers) ? headers : Object.entries(headers);
  const lines = [`${method} ${path} HTTP/1.1`, ...fields.map(([k, v]) => `${k}: ${v}`), 'Connection: close'];
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(`${lines.join('\r\n')}\r\n\r\n`));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      text += d;
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...fields] = head.split('\r\n');
      const parsed: Record<string, string> = {};
      for (const field of fields) {
        const at = field.indexOf(':');
        parsed[field.slice(0, at).toLowerCase()] = field.slice(at + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers: parsed, body: rest.join('\r\n\r\n') });
    });
  });
}

const create = { 'Tus-Resumable': '1.0.0', 'Upload-Length': '1' };
const ID = '[0-9a-f]{32}';
const uploads = (root: string) => readdirSync(root).filter((name) => !name.startsWith('.'));

const BAD_HOSTS = [
  'evil.example/../x',
  'evil.example/',
  'evil.example\\x',
  'user@evil.example',
  'evil.example x',
  'evil..example',
  '..',
  'evil.example?x=1',
  'evil.example#x',
  'evil.example:99999',
  'evil.example:80a',
  'evil.example:',
  '[::1',
  '[evil.example]',
  '[fe80::1%25eth0]',
  '"evil.example"',
  // Numeric last label: an IPv4 address to URL parsers, and not a valid one (these once made a 500).
  '1.2.3.4.5',
  '256.256.256.256',
  '999.1.1.1',
  '',
];

t.test('a Host that is not host[:port]: 400 saying so, nothing created, no Location', async (t) => {
  const app = await startAppFor(t);
  for (const host of BAD_HOSTS) {
    const res = await raw(app.url, 'POST', '/files/', { Host: host, ...create });
    t.equal(res.status, 400, `Host: ${host}`);
    t.equal(res.headers.location, undefined, `Host: ${host}: no Location`);
    t.match(res.body, host === '' ? /no Host header/ : /^Host ".*" is not a host name or IP address with an optional port/, host);
  }
  t.same(uploads(app.root), [], 'nothing was created');
  // Not only creation: every tus request is refused the same way.
  const url = new URL(await createUpload(app.url, 1));
  for (const method of ['HEAD', 'PATCH', 'DELETE', 'OPTIONS']) {
    t.equal((await raw(app.url, method, url.pathname, { Host: 'evil.example/../x', 'Tus-Resumable': '1.0.0' })).status, 400, method);
  }
  t.equal((await patch(url.toString(), 0, Buffer.from('x'))).status, 204, 'the upload was untouched');
});

t.test('two Host headers: 400 (RFC 9112), with PUBLIC_URL too', async (t) => {
  for (const env of [{}, { PUBLIC_URL: 'https://uploads.example.com' }] as Array<Record<string, string>>) {
    const app = await startAppFor(t, env);
    const res = await raw(app.url, 'POST', '/files/', [
      ['Host', 'good.example'],
      ['Host', 'evil.example'],
      ['Tus-Resumable', '1.0.0'],
      ['Upload-Length', '1'],
    ]);
    t.equal(res.status, 400, `two Host headers ${env.PUBLIC_URL ? 'with' : 'without'} PUBLIC_URL`);
    t.match(res.body, /2 Host headers; send one/);
    t.same(uploads(app.root), [], 'nothing was created');
  }
});

t.test('a valid Host makes the Location, as sent', async (t) => {
  const app = await startAppFor(t);
  for (const host of [
    'uploads.example.com',
    'UP.Example.COM.',
    'up-load_1.internal:8443',
    '192.0.2.7:80',
    '[::1]:1080',
    '[2001:db8::1]',
    'localhost',
  ]) {
    const res = await raw(app.url, 'POST', '/files/', { Host: host, ...create });
    t.equal(res.status, 201, `Host: ${host}`);
    t.match(res.headers.location, new RegExp(`^http://${host.replace(/[.[\]]/g, '\\$&')}/files/${ID}$`), host);
  }
});

t.test('the final upload of a concatenation: the same check, the same origin', async (t) => {
  const app = await startAppFor(t, { IP_TRUST_PROXY: 'loopback' });
  const partial = new URL(await createUpload(app.url, 1, { 'Upload-Concat': 'partial' }));
  t.equal((await patch(partial.toString(), 0, Buffer.from('x'))).status, 204);
  const final = { 'Tus-Resumable': '1.0.0', 'Upload-Concat': `final;${partial.pathname}` };
  const before = uploads(app.root);
  const bad = await raw(app.url, 'POST', '/files/', { Host: 'evil.example/../x', ...final });
  t.equal(bad.status, 400);
  t.match(bad.body, /^Host "evil\.example\/\.\.\/x" is not a host name/);
  t.same(uploads(app.root), before, 'no final upload was created');
  const proxied = await raw(app.url, 'POST', '/files/', {
    Host: partial.host,
    'X-Forwarded-Host': 'up.example.com',
    'X-Forwarded-Proto': 'https',
    ...final,
  });
  t.equal(proxied.status, 201, proxied.body);
  t.match(
    proxied.headers.location,
    new RegExp(`^https://up\\.example\\.com/files/${ID}$`),
    "a trusted proxy's origin, as for other uploads",
  );
});

t.test('forwarded headers from a peer IP_TRUST_PROXY does not name are ignored', async (t) => {
  for (const trust of ['false', '10.0.0.0/8', 'uniquelocal,192.0.2.1']) {
    const app = await startAppFor(t, { IP_TRUST_PROXY: trust });
    const host = new URL(app.url).host;
    for (const forwarded of <Array<Record<string, string>>>[
      { 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'https' },
      { Forwarded: 'for=198.51.100.1;host=evil.example;proto=https' },
      { 'X-Forwarded-Host': 'evil.example/../x', 'X-Forwarded-Proto': 'javascript' },
    ]) {
      const res = await raw(app.url, 'POST', '/files/', { Host: host, ...create, ...forwarded });
      t.equal(res.status, 201, `IP_TRUST_PROXY=${trust}: ${JSON.stringify(forwarded)}`);
      t.match(res.headers.location, new RegExp(`^http://${host.replace(/\./g, '\\.')}/files/${ID}$`), 'the Host makes the Location');
    }
  }
});

t.test('from a trusted proxy: its origin, checked like Host', async (t) => {
  const app = await startAppFor(t, { IP_TRUST_PROXY: '127.0.0.1' });
  const host = new URL(app.url).host;
  const post = (headers: Record<string, string>) => raw(app.url, 'POST', '/files/', { Host: host, ...create, ...headers });
  const cases: Array<[Record<string, string>, string]> = [
    [{ 'X-Forwarded-Host': 'up.example.com', 'X-Forwarded-Proto': 'https' }, 'https://up.example.com'],
    [{ 'X-Forwarded-Host': 'client-said.example, up.example.com:8443' }, 'http://up.example.com:8443'],
    [{ 'X-Forwarded-Proto': 'HTTPS' }, `https://${host}`],
    [{ Forwarded: 'for=198.51.100.1;host="fw.example.org";proto=https' }, 'https://fw.example.org'],
    [
      { Forwarded: 'host=client-said.example, for=192.0.2.1;host=fw.example.org', 'X-Forwarded-Host': 'x.example' },
      'http://fw.example.org',
    ],
  ];
  for (const [headers, origin] of cases) {
    const res = await post(headers);
    t.equal(res.status, 201, JSON.stringify(headers));
    t.match(res.headers.location, new RegExp(`^${origin.replace(/[.]/g, '\\.')}/files/${ID}$`), JSON.stringify(headers));
  }
  const refused: Array<[Record<string, string>, RegExp]> = [
    [
      { 'X-Forwarded-Host': 'evil.example/../x' },
      /^X-Forwarded-Host "evil\.example\/\.\.\/x" \(from a trusted proxy, IP_TRUST_PROXY\) is not a host name/,
    ],
    [{ 'X-Forwarded-Host': 'a.example, user@evil.example' }, /^X-Forwarded-Host "user@evil\.example"/],
    [{ Forwarded: 'host="evil.example/x"' }, /^Forwarded host "evil\.example\/x"/],
    [
      { 'X-Forwarded-Proto': 'javascript' },
      /^X-Forwarded-Proto "javascript" \(from a trusted proxy, IP_TRUST_PROXY\) is neither http nor https/,
    ],
    [{ Forwarded: 'proto=ftp' }, /^Forwarded proto "ftp"/],
  ];
  for (const [headers, message] of refused) {
    const res = await post(headers);
    t.equal(res.status, 400, JSON.stringify(headers));
    t.match(res.body, message);
  }
  t.equal(uploads(app.root).filter((name) => name.endsWith('.json')).length, cases.length, 'only the accepted creations made uploads');
});

t.test('with PUBLIC_URL: the Location is PUBLIC_URL; a malformed Host is still 400', async (t) => {
  const app = await startAppFor(t, { PUBLIC_URL: 'https://uploads.example.com/base', IP_TRUST_PROXY: 'true' });
  const host = new URL(app.url).host;
  const res = await raw(app.url, 'POST', '/files/', { Host: host, ...create, 'X-Forwarded-Host': 'evil.example/../x' });
  t.equal(res.status, 201, 'forwarded headers are not used, so not checked');
  t.match(res.headers.location, new RegExp(`^https://uploads\\.example\\.com/base/files/${ID}$`));
  const bad = await raw(app.url, 'POST', '/files/', { Host: 'evil.example/../x', ...create });
  t.equal(bad.status, 400);
  t.match(bad.body, /^Host "evil\.example\/\.\.\/x" is not a host name/);
});
