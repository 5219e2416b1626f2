/**
 * A seeded fuzz of the HTTP surface on every driver (local, S3 and Azure, in-process): random and
 * malformed tus headers, methods (and overrides), lengths, offsets, metadata, ids, huge headers,
 * bodies longer and shorter than declared (raw sockets), slow bodies, interleaved with valid
 * uploads whose bytes must come back exact. No 5xx, no hang, every 4xx explained in plain text,
 * memory and open descriptors level off.
 *   SEED=1234 replays a run (the seed is printed); FUZZ_REQUESTS=5000 runs longer (default 1500, the drivers together).
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t, { type Test } from 'tap';
import { startAppFor } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer } from '../helpers/azure.js';
import { seededRandom } from '../helpers/fault-proxy.js';
import { s3LocationEnv, s3TestServer, uniqueRoot } from '../helpers/s3.js';
import { until } from '../helpers/wait.js';

const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
const TOTAL = Number(process.env.FUZZ_REQUESTS ?? 1500);
const IDLE_MS = 500;

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Every status line seen on the connection (extra bytes may be parsed as further requests). */
  statuses: number[];
}

interface RawRequest {
  method: string;
  path: string;
  headers: Array<[string, string]>;
  body: Buffer;
  /** Body bytes actually sent (may differ from Content-Length). */
  send?: Buffer;
  /** Send the body a few bytes at a time, then stall (no end). */
  slow?: boolean;
  /** Keep the socket open after the (short) body: the server must cut it off. */
  stall?: boolean;
}

function parse(buf: Buffer, isHead: boolean): Reply | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(lines[0]?.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = buf.subarray(end + 4);
  if (isHead) body = Buffer.alloc(0);
  else if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
  else if (headers['transfer-encoding'] === 'chunked') {
    const out: Buffer[] = [];
    let rest = body;
    for (;;) {
      const nl = rest.indexOf('\r\n');
      if (nl < 0) break;
      const size = Number.parseInt(rest.subarray(0, nl).toString(), 16);
      if (!size) break;
      out.push(rest.subarray(nl + 2, nl + 2 + size));
      rest = rest.subarray(nl + 4 + size);
    }
    body = Buffer.concat(out);
  }
  const statuses = [...buf.toString('latin1').matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  return { status, headers, body, statuses };
}

/** One request on its own connection (Connection: close); resolves with the reply, or undefined when the server closed without one. */
function raw(port: number, req: RawRequest, timeoutMs: number): Promise<Reply | undefined | 'timeout'> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (r: Reply | undefined | 'timeout') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => finish(parse(Buffer.concat(chunks), req.method === 'HEAD')));
    const head = `${req.method} ${req.path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n${req.headers
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`;
    socket.write(head, 'latin1');
    const send = req.send ?? req.body;
    if (req.slow) {
      let i = 0;
      const drip = setInterval(() => {
        if (done || i >= 3) return clearInterval(drip);
        socket.write(send.subarray(i * 4, i * 4 + 4));
        i++;
      }, 50);
    } else {
      if (send.length) socket.write(send);
      // No half-close: Node aborts a request whose client ended its side (Connection: close ends the exchange).
    }
  });
}

const TUS_HEADERS = [
  'Tus-Resumable',
  'Upload-Length',
  'Upload-Offset',
  'Upload-Defer-Length',
  'Upload-Metadata',
  'Upload-Concat',
  'Upload-Checksum',
];

function fuzzer(seed: number) {
  const r = seededRandom(seed);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const chance = (p: number) => r() < p;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const hex = (n: number) => Array.from({ length: n }, () => '0123456789abcdef'[int(16)]).join('');
  const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
  const number = () =>
    pick([
      String(int(200)),
      String(int(70000)),
      '0',
      '-1',
      `-${int(1e6)}`,
      '18446744073709551616',
      '9007199254740993',
      '99999999999999999999999999',
      '1e3',
      '0x10',
      ' 12 ',
      '',
      'NaN',
      '12abc',
      '+5',
      '1.5',
      '١٢',
    ]);
  const metadata = () =>
    pick([
      `filename ${b64('a.txt')},filetype ${b64('text/plain')}`,
      'filename',
      'filename !!!notbase64',
      `filename ${b64('x')},filename ${b64('y')}`,
      `${'k'.repeat(300)} ${b64('v')}`,
      `a b c`,
      ',,,',
      ` ${b64('x')}`,
      `name ${b64(bytes(int(6000)))}`,
      Array.from({ length: 100 }, (_, i) => `k${i} ${b64('v')}`).join(','),
      `filename ${b64('../../etc/passwd')}`,
      `filename ${b64('\u0000\r\n')}`,
      `k\u00e9 ${b64('x')}`,
      '',
    ]);
  const checksum = (body: Buffer) =>
    pick([
      `sha1 ${createHash('sha1').update(body).digest('base64')}`,
      `sha1 ${b64('wrong')}`,
      `md5 ${createHash('md5').update(body).digest('base64')}`,
      `crc32 ${b64('1234')}`,
      `sha256 ${createHash('sha256').update(body).digest('base64')}`,
      'sha1',
      'sha1 !!!',
      ' ',
      `nonsense ${b64('x')}`,
    ]);
  return { r, int, pick, chance, bytes, hex, b64, number, metadata, checksum };
}

interface Valid {
  url: string;
  path: string;
  data: Buffer;
  offset: number;
  deferred: boolean;
}

async function fuzzDriver(t: Test, name: string, env: Record<string, string>, count: number, seed: number) {
  const app = await startAppFor(t, { TUS_BODY_IDLE_TIMEOUT: String(IDLE_MS), TUS_BODY_MIN_RATE: '0', ...env });
  const port = Number(new URL(app.url).port);
  const f = fuzzer(seed);
  const { int, pick, chance, bytes, hex, b64 } = f;
  const fuzzIds: string[] = [];
  const valids: Valid[] = [];
  const finished: Valid[] = [];
  const problems: string[] = [];
  /** Requests the server closed without an answer (a body it cut off, a request it refused to read): shown, not failed. */
  const closed: string[] = [];
  const background: Array<Promise<void>> = [];
  const counts: Record<number | string, number> = {};
  const tally = (k: number | string) => {
    counts[k] = (counts[k] ?? 0) + 1;
  };

  const check = (req: RawRequest, reply: Reply | undefined | 'timeout', what: string) => {
    const desc = `${what}: ${req.method} ${req.path.slice(0, 80)} [${req.headers.map(([k, v]) => `${k}: ${v.slice(0, 60)}`).join('; ')}] body ${req.body.length}/${(req.send ?? req.body).length}`;
    if (reply === 'timeout') {
      problems.push(`no answer (hang): ${desc}`);
      return tally('timeout');
    }
    if (!reply) {
      // Only a body the server cut off (TUS_BODY_IDLE_TIMEOUT) may end without an answer.
      if (!what.includes('stalled')) problems.push(`closed without an answer: ${desc}`);
      if (closed.length < 5) closed.push(desc.slice(0, 300));
      return tally('closed');
    }
    tally(reply.status);
    for (const s of reply.statuses) if (s >= 500) problems.push(`${s}: ${desc}: ${reply.body.toString().slice(0, 300)}`);
    if (reply.status >= 400 && reply.status < 500 && req.method !== 'HEAD') {
      const text = reply.body.toString();
      const type = reply.headers['content-type'] ?? '';
      if (!text.trim() || /json/.test(type) || text.trimStart().startsWith('{'))
        problems.push(`${reply.status} without a plain-text explanation (${type}: ${JSON.stringify(text.slice(0, 120))}): ${desc}`);
    }
  };

  const idOf = (location: string | undefined) => (location ? new URL(location, app.url).pathname : undefined);

  const hostilePath = () =>
    pick([
      `/files/${hex(32)}`,
      `/files/${'a'.repeat(int(3000) + 1)}`,
      '/files/..%2f..%2fetc%2fpasswd',
      '/files/../../etc/passwd',
      '/files/%00',
      '/files/%',
      '/files/%E2%80%AE',
      '/files/a/b/c',
      '/files//',
      '/files/?x=1',
      '/files/.info',
      `/files/${hex(32)}.info`,
      `/files/${hex(32)}.part`,
      '/files',
      '/',
      '/nope',
      `/files/${encodeURIComponent(bytes(8).toString('latin1'))}`,
      '*',
    ]);

  const fuzzRequest = (): RawRequest => {
    const pool = fuzzIds.length ? fuzzIds : [`/files/${hex(32)}`];
    const validPaths = valids.concat(finished).map((v) => v.path);
    const method = pick([
      'POST',
      'POST',
      'PATCH',
      'PATCH',
      'PATCH',
      'HEAD',
      'HEAD',
      'GET',
      'DELETE',
      'OPTIONS',
      'PUT',
      'FOO',
      'PROPFIND',
      'TRACE',
    ]);
    let path: string;
    const where = int(10);
    if (method === 'POST') path = chance(0.8) ? '/files/' : hostilePath();
    else if (where < 5) path = pick(pool);
    else if (where < 7 && validPaths.length && ['HEAD', 'GET', 'OPTIONS'].includes(method)) path = pick(validPaths);
    else path = hostilePath();
    const headers: Array<[string, string]> = [];
    if (chance(0.85)) headers.push(['Tus-Resumable', chance(0.9) ? '1.0.0' : pick(['0.2.2', '', 'x', '1.0.0, 1.0.0', '2.0'])]);
    if (chance(0.05)) headers.push(['Tus-Resumable', '1.0.0']);
    // Not on the valid uploads: an override to DELETE would terminate them.
    if (chance(0.1) && !validPaths.includes(path))
      headers.push(['X-HTTP-Method-Override', pick(['PATCH', 'DELETE', 'HEAD', 'GET', 'POST', 'BOGUS', ''])]);
    if (method === 'POST' || chance(0.15)) {
      if (chance(0.85)) headers.push(['Upload-Length', chance(0.6) ? String(int(3000)) : f.number()]);
      if (chance(0.1)) headers.push(['Upload-Length', f.number()]);
      if (chance(0.15)) headers.push(['Upload-Defer-Length', pick(['1', '0', '2', 'true', '', '1'])]);
    }
    if (method === 'PATCH' || chance(0.1)) {
      if (chance(0.9)) headers.push(['Upload-Offset', chance(0.5) ? String(int(3000)) : f.number()]);
      if (chance(0.05)) headers.push(['Upload-Offset', f.number()]);
      if (chance(0.2)) headers.push(['Upload-Length', f.number()]);
    }
    if (chance(0.3)) headers.push(['Upload-Metadata', f.metadata()]);
    if (chance(0.1)) {
      const ids = Array.from({ length: int(4) }, () => pick([...pool, ...validPaths, hostilePath()]));
      headers.push([
        'Upload-Concat',
        pick(['partial', 'final', `final;${ids.join(' ')}`, `final; ${ids.join('  ')}`, 'partial;x', 'nonsense', '']),
      ]);
    }
    const bodyLen = pick([0, 0, int(100), int(3000), int(70000)]);
    const body = bytes(bodyLen);
    if (chance(0.1)) headers.push(['Upload-Checksum', f.checksum(body)]);
    if (method === 'PATCH' || chance(0.2))
      headers.push([
        'Content-Type',
        chance(0.85)
          ? 'application/offset+octet-stream'
          : pick(['text/plain', '', 'application/json', 'application/offset+octet-stream; x=1']),
      ]);
    if (chance(0.03)) headers.push(['X-Huge', 'h'.repeat(17000 + int(20000))]);
    if (chance(0.03)) headers.push([pick(TUS_HEADERS), 'v'.repeat(5000 + int(9000))]);
    if (chance(0.02)) for (let i = 0; i < 120; i++) headers.push([`X-Many-${i}`, 'x']);
    const req: RawRequest = { method, path, headers, body };
    const framing = int(20);
    if (framing === 0 && bodyLen) {
      headers.push(['Transfer-Encoding', 'chunked']);
      req.send = Buffer.concat([Buffer.from(`${bodyLen.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
    } else if (framing === 1) {
      // Longer than declared: the extra bytes must not become a second request that fails the server.
      headers.push(['Content-Length', String(bodyLen)]);
      req.send = Buffer.concat([body, bytes(int(200) + 1)]);
    } else if (framing === 2) {
      headers.push(['Content-Length', pick(['-1', 'abc', '1e3', '18446744073709551616', ' 5', `${bodyLen}, ${bodyLen}`])]);
    } else if (framing === 3) {
      headers.push(['Content-Length', String(bodyLen)], ['Content-Length', String(bodyLen + 1)]);
    } else if (bodyLen || method === 'POST' || method === 'PATCH') {
      headers.push(['Content-Length', String(bodyLen)]);
    }
    return req;
  };

  /** A request with a lying short body or a slow one, run in the background (the server must cut it after TUS_BODY_IDLE_TIMEOUT). */
  const stalledRequest = (): RawRequest => {
    const path = fuzzIds.length && chance(0.7) ? pick(fuzzIds) : '/files/';
    const method = path === '/files/' ? 'POST' : 'PATCH';
    const body = bytes(200 + int(2000));
    const headers: Array<[string, string]> = [
      ['Tus-Resumable', '1.0.0'],
      ['Content-Type', 'application/offset+octet-stream'],
      ['Content-Length', String(body.length)],
      method === 'POST' ? ['Upload-Length', String(body.length + int(1000))] : ['Upload-Offset', '0'],
    ];
    return chance(0.5)
      ? { method, path, headers, body, send: body.subarray(0, int(body.length)), stall: true }
      : { method, path, headers, body, slow: true };
  };

  const validStep = async () => {
    if (valids.length < 3 && chance(0.5)) {
      const size = pick([0, 1, int(5000), int(300000)]);
      const deferred = chance(0.2);
      const data = bytes(size);
      const headers: Array<[string, string]> = [
        ['Tus-Resumable', '1.0.0'],
        deferred ? ['Upload-Defer-Length', '1'] : ['Upload-Length', String(size)],
        ['Upload-Metadata', `filename ${b64(`v${int(1000)}.bin`)}`],
        ['Content-Length', '0'],
      ];
      const req = { method: 'POST', path: '/files/', headers, body: Buffer.alloc(0) };
      const res = await raw(port, req, 15000);
      check(req, res, `${name} valid create`);
      if (res && res !== 'timeout' && res.status === 201) {
        const path = idOf(res.headers.location) as string;
        (size === 0 && !deferred ? finished : valids).push({ url: `${app.url}${path}`, path, data, offset: 0, deferred });
      } else problems.push(`${name} valid create answered ${res === 'timeout' ? 'nothing' : res?.status}`);
      return;
    }
    const v = valids.length ? pick(valids) : undefined;
    if (v) await patchValid(v);
  };

  const patchValid = async (v: Valid) => {
    const n = Math.min(v.data.length - v.offset, 1 + int(120000));
    const chunk = v.data.subarray(v.offset, v.offset + n);
    const headers: Array<[string, string]> = [
      ['Tus-Resumable', '1.0.0'],
      ['Upload-Offset', String(v.offset)],
      ['Content-Type', 'application/offset+octet-stream'],
      ['Content-Length', String(chunk.length)],
    ];
    if (v.deferred && v.offset + n === v.data.length) headers.push(['Upload-Length', String(v.data.length)]);
    if (chance(0.2)) headers.push(['Upload-Checksum', `sha1 ${createHash('sha1').update(chunk).digest('base64')}`]);
    const req = { method: 'PATCH', path: v.path, headers, body: chunk };
    const res = await raw(port, req, 15000);
    check(req, res, `${name} valid patch`);
    if (res && res !== 'timeout' && res.status === 204 && res.headers['upload-offset'] === String(v.offset + n)) {
      v.offset += n;
      if (v.offset === v.data.length) {
        valids.splice(valids.indexOf(v), 1);
        finished.push(v);
      }
    } else {
      problems.push(`${name} valid patch at ${v.offset}+${n} answered ${res === 'timeout' ? 'nothing' : `${res?.status} ${res?.body}`}`);
      valids.splice(valids.indexOf(v), 1);
    }
  };

  const sample = async () => {
    await Promise.all(background);
    background.length = 0;
    const gc = runInNewContext('typeof gc === "function" ? gc : undefined') as (() => void) | undefined;
    gc?.();
    let fds = 0;
    // Sockets of finished requests close asynchronously: take the lowest count seen for a moment.
    let best = Number.POSITIVE_INFINITY;
    await until(() => {
      fds = readdirSync('/proc/self/fd').length;
      best = Math.min(best, fds);
      return app.app.server.listening && best <= fds;
    }, 'descriptors settle');
    await new Promise((r) => setTimeout(r, 100));
    gc?.();
    best = Math.min(best, readdirSync('/proc/self/fd').length);
    const m = process.memoryUsage();
    return { fds: best, rss: m.rss, heap: m.heapUsed };
  };

  const started = Date.now();
  let warm: Awaited<ReturnType<typeof sample>> | undefined;
  for (let i = 0; i < count; i++) {
    if (i === Math.floor(count / 3)) warm = await sample();
    const roll = f.r();
    if (roll < 0.2) {
      await validStep();
      continue;
    }
    if (roll < 0.215 && background.length < 4) {
      const req = stalledRequest();
      background.push(raw(port, req, IDLE_MS + 10000).then((res) => check(req, res, `${name} stalled body`)));
      continue;
    }
    const req = fuzzRequest();
    const res = await raw(port, req, 15000);
    check(req, res, `${name} fuzz #${i}`);
    if (req.method === 'POST' && res && res !== 'timeout' && res.status === 201 && res.headers.location) {
      const id = idOf(res.headers.location);
      if (id && fuzzIds.length < 40) fuzzIds.push(id);
    }
  }
  // Finish the valid uploads still under way.
  for (const v of [...valids]) {
    for (let tries = 0; valids.includes(v) && tries < 50; tries++) await patchValid(v);
  }
  const end = await sample();
  const elapsed = Date.now() - started;

  let exact = 0;
  for (const v of finished) {
    const res = await fetch(v.url);
    const got = Buffer.from(await res.arrayBuffer());
    if (res.status === 200 && got.equals(v.data)) exact++;
    else problems.push(`${name} valid upload ${v.path} (${v.data.length} bytes): GET ${res.status}, ${got.length} bytes, sha differs`);
  }

  t.comment(`${name}: ${count} requests in ${elapsed} ms; statuses ${JSON.stringify(counts)}; ${finished.length} valid uploads`);
  t.comment(
    `${name}: after warm-up ${warm?.fds} fds, rss ${Math.round((warm?.rss ?? 0) / 2 ** 20)} MiB, heap ${Math.round((warm?.heap ?? 0) / 2 ** 20)} MiB; at the end ${end.fds} fds, rss ${Math.round(end.rss / 2 ** 20)} MiB, heap ${Math.round(end.heap / 2 ** 20)} MiB`,
  );
  for (const c of closed) t.comment(`closed without an answer: ${c}`);
  t.same(problems, [], `${name}: no 5xx, no hang, every 4xx explained in plain text, valid uploads exact (SEED=${seed})`);
  t.ok(finished.length > 0 && exact === finished.length, `${name}: ${exact}/${finished.length} valid uploads byte-exact`);
  t.ok(
    counts[201] && counts[204] && counts[400] && counts[404],
    `${name}: the fuzz reached created, accepted, refused and unknown answers`,
  );
  if (warm) {
    t.ok(end.fds <= warm.fds + 8, `${name}: open descriptors level off (${warm.fds} -> ${end.fds})`);
    t.ok(end.heap <= warm.heap + 40 * 2 ** 20, `${name}: heap levels off (${warm.heap} -> ${end.heap})`);
    t.ok(end.rss <= warm.rss + 150 * 2 ** 20, `${name}: RSS levels off (${warm.rss} -> ${end.rss})`);
  }
}

t.test("regression (fuzz): Fastify's own 4xx answers are plain text, not JSON", async (t) => {
  const app = await startAppFor(t, {});
  const port = Number(new URL(app.url).port);
  const cases: Array<[RawRequest, number, RegExp]> = [
    [
      { method: 'PUT', path: '/files/abc', headers: [], body: Buffer.alloc(0) },
      404,
      /^Nothing here: PUT \/files\/abc is not a route of this server\n$/,
    ],
    [
      { method: 'GET', path: '/files/%', headers: [], body: Buffer.alloc(0) },
      400,
      /^'\/files\/%' is not a valid url component; check the URL's percent-encoding\n$/,
    ],
    [
      {
        method: 'POST',
        path: '/nope',
        headers: [
          ['Content-Type', 'application/json'],
          ['Content-Length', '3'],
        ],
        body: Buffer.from('{x}'),
      },
      400,
      /^Body is not valid JSON but content-type is set to 'application\/json'\n$/,
    ],
    [
      {
        method: 'PATCH',
        path: '/',
        headers: [
          ['Content-Type', 'text/nope'],
          ['Content-Length', '3'],
        ],
        body: Buffer.from('abc'),
      },
      404,
      /^Nothing here: PATCH \/ /,
    ],
  ];
  for (const [req, status, body] of cases) {
    const res = await raw(port, req, 5000);
    if (!res || res === 'timeout') throw new Error(`${req.method} ${req.path}: no answer`);
    t.equal(res.status, status, `${req.method} ${req.path}: ${status}`);
    t.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    t.match(res.body.toString(), body);
  }
});

setFlagsFromString('--expose-gc');
t.comment(`fuzz SEED=${SEED} FUZZ_REQUESTS=${TOTAL} (replay: SEED=${SEED} npx tap test/e2e/fuzz.test.ts)`);

// The requests are shared out between the drivers, so that a run takes as long whatever their number.
const [localShare, s3Share] = [Math.ceil(TOTAL / 3), Math.floor(TOTAL / 3)];
t.test('fuzz: local driver', (t) => fuzzDriver(t, 'local', {}, localShare, SEED));

t.test('fuzz: S3 driver', (t) => {
  const server = s3TestServer();
  return fuzzDriver(t, 's3', s3LocationEnv(server, uniqueRoot('fuzz')), s3Share, SEED + 1);
});

t.test('fuzz: Azure driver', (t) =>
  fuzzDriver(t, 'azure', azureLocationEnv(azureTestServer(), uniqueRoot('fuzz')), TOTAL - localShare - s3Share, SEED + 2),
);
