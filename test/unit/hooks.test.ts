/** The pieces of the hook module that need no server: signature, backoff, response parsing, redaction, throttling, configuration. */
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { parseConfig } from '../../src/config/index.js';
import { Delivery, retryDelay } from '../../src/hooks/delivery.js';
import { DEFAULT_EVENTS } from '../../src/hooks/events.js';
import { callHook, HookFailure, parseHookResponse, splitCredentials } from '../../src/hooks/http-hook.js';
import { Outbox } from '../../src/hooks/outbox.js';
import { canonicalHeaderName, redactHeaders, redactUri } from '../../src/hooks/payload.js';
import { Progress } from '../../src/hooks/progress.js';
import { signatureHeader, verifySignature } from '../../src/hooks/signature.js';
import { configProblems } from '../helpers/config.js';
import { until } from '../helpers/wait.js';

const SECRETS = { HOOKS_HTTP_SECRET: 'unit-test-hook-secret-81f2' } as const;
const KEY = SECRETS.HOOKS_HTTP_SECRET;

t.test('signature: t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">', async (t) => {
  const now = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
  const body = '{"Type":"post-finish"}';
  const header = signatureHeader(KEY, body, now);
  const seconds = Math.floor(now / 1000);
  t.equal(header, `t=${seconds},v1=${createHmac('sha256', KEY).update(`${seconds}.${body}`).digest('hex')}`);
  t.ok(verifySignature(header, body, KEY, { now }));
  t.ok(verifySignature(header, Buffer.from(body), KEY, { now }), 'bytes as well as text');
  t.notOk(verifySignature(header, `${body} `, KEY, { now }), 'one byte more');
  t.notOk(verifySignature(header, body, `${KEY}x`, { now }), 'another secret');
  t.notOk(verifySignature(header, body, KEY, { now: now + 301_000 }), 'older than the tolerance');
  t.ok(verifySignature(header, body, KEY, { now: now + 3_600_000, toleranceSeconds: 7200 }), 'a wider tolerance');
  t.notOk(verifySignature(header.replace(/t=\d+/, `t=${seconds + 1}`), body, KEY, { now }), 'the timestamp is signed');
  t.notOk(verifySignature(undefined, body, KEY, { now }));
  t.notOk(verifySignature('v1=abc', body, KEY, { now }));
  t.ok(verifySignature(`${header},v1=${'0'.repeat(64)}`, body, KEY, { now }), 'any v1 may match');
});

t.test('retry delays double up to the maximum, with jitter in the upper half', async (t) => {
  t.same(
    [1, 2, 3, 4, 5, 10].map((n) => retryDelay(n, 1000, 8000, () => 1)),
    [1000, 2000, 4000, 8000, 8000, 8000],
  );
  t.same(
    [1, 2, 3, 4].map((n) => retryDelay(n, 1000, 8000, () => 0)),
    [500, 1000, 2000, 4000],
  );
  for (let i = 0; i < 100; i++) {
    const d = retryDelay(3, 100, 10_000);
    t.ok(d >= 200 && d <= 400, `${d} within [200, 400]`);
  }
});

t.test('hook responses are tusd HookResponses; anything else is an invalid answer', async (t) => {
  t.same(parseHookResponse('', null), {}, 'an empty 2xx changes nothing');
  t.same(parseHookResponse('{}', 'application/json; charset=utf-8'), {});
  t.same(
    parseHookResponse(
      JSON.stringify({
        HTTPResponse: { StatusCode: 403, Body: 'no', Header: { 'X-A': 'b' } },
        RejectUpload: true,
        RejectTermination: false,
        ChangeFileInfo: { ID: 'abc', MetaData: { k: 'v' }, Storage: null },
        StopUpload: false,
        Unknown: 1,
      }),
      'application/json',
    ),
    {
      RejectUpload: true,
      RejectTermination: false,
      StopUpload: false,
      HTTPResponse: { StatusCode: 403, Body: 'no', Header: { 'X-A': 'b' } },
      ChangeFileInfo: { ID: 'abc', MetaData: { k: 'v' } },
    },
  );
  t.same(parseHookResponse('{"HTTPResponse":{"StatusCode":0,"Body":""},"ChangeFileInfo":{"ID":""}}', null), {
    HTTPResponse: { Body: '' },
    ChangeFileInfo: {},
  });
  for (const [text, type, why] of [
    ['nope', 'application/json', /not JSON/],
    ['[]', 'application/json', /not a JSON object/],
    ['{}', 'text/html', /text\/html, expected application\/json/],
    ['{"RejectUpload":"yes"}', null, /RejectUpload must be true or false/],
    ['{"HTTPResponse":{"StatusCode":99}}', null, /StatusCode must be an HTTP status/],
    ['{"HTTPResponse":{"Header":{"A":1}}}', null, /Header must be an object of strings/],
    ['{"ChangeFileInfo":{"MetaData":{"a":1}}}', null, /MetaData must be an object of strings/],
  ] as const) {
    t.throws(() => parseHookResponse(text, type), { name: 'HookFailure', kind: 'invalid', message: why }, text);
  }
  t.ok(new HookFailure('status', 'x', 500) instanceof Error);
});

t.test('field names match as in tusd (Go encoding/json): ignoring case', async (t) => {
  // A receiver written for tusd may answer in any case; a rejection must not be missed for its spelling.
  t.same(
    parseHookResponse(
      JSON.stringify({
        rejectUpload: true,
        REJECTTERMINATION: true,
        stopupload: true,
        httpResponse: { statusCode: 403, body: 'no', header: { 'X-A': 'b' } },
        changeFileInfo: { id: 'abc', metaData: { K: 'v' } },
      }),
      'application/json',
    ),
    {
      RejectUpload: true,
      RejectTermination: true,
      StopUpload: true,
      HTTPResponse: { StatusCode: 403, Body: 'no', Header: { 'X-A': 'b' } },
      ChangeFileInfo: { ID: 'abc', MetaData: { K: 'v' } },
    },
    'header names and metadata keys (map keys) keep their case',
  );
  t.throws(() => parseHookResponse('{"rejectUpload":"yes"}', null), { kind: 'invalid', message: /RejectUpload must be true or false/ });
  t.throws(() => parseHookResponse('{"HTTPResponse":{"Header":["x"]}}', null), { kind: 'invalid', message: /Header must be an object/ });
});

t.test('redaction: credential headers and query parameters, canonical header names', async (t) => {
  t.equal(canonicalHeaderName('upload-length'), 'Upload-Length');
  t.equal(canonicalHeaderName('x-http-method-override'), 'X-Http-Method-Override');
  t.same(
    redactHeaders({
      authorization: ['Bearer abc.def.ghi'],
      'proxy-authorization': ['Basic dXNlcjpwYXNz'],
      cookie: ['a=1; b=2'],
      'x-auth-token': ['t'],
      'x-csrf-token': ['c'],
      'upload-metadata': ['filename YS50eHQ='],
      'x-forwarded-for': ['10.0.0.1', '10.0.0.2'],
    }),
    {
      Authorization: ['Bearer [REDACTED]'],
      'Proxy-Authorization': ['Basic [REDACTED]'],
      Cookie: ['[REDACTED]'],
      'X-Auth-Token': ['[REDACTED]'],
      'X-Csrf-Token': ['[REDACTED]'],
      'Upload-Metadata': ['filename YS50eHQ='],
      'X-Forwarded-For': ['10.0.0.1', '10.0.0.2'],
    },
  );
  t.same(redactHeaders({ authorization: ['opaque'] }), { Authorization: ['[REDACTED]'] });
  t.equal(redactUri('/files/abc'), '/files/abc');
  t.equal(redactUri('/files/?access_token=x.y.z&a=1&api_key=k&flag'), '/files/?access_token=[REDACTED]&a=1&api_key=[REDACTED]&flag');
  t.equal(redactUri('/files/?Access%5FToken=x'), '/files/?Access%5FToken=[REDACTED]', 'encoded names too');
  // Other common credential names: X-Authorization, Azure's subscription and function keys, a `key`
  // or SAS `sig` query parameter.
  t.same(
    redactHeaders({
      'x-authorization': ['Bearer abc'],
      'ocp-apim-subscription-key': ['k1'],
      'x-functions-key': ['k2'],
      'x-access-key': ['k3'],
      'x-session-cookie': ['c'],
      'x-tenant': ['acme'],
    }),
    {
      'X-Authorization': ['[REDACTED]'],
      'Ocp-Apim-Subscription-Key': ['[REDACTED]'],
      'X-Functions-Key': ['[REDACTED]'],
      'X-Access-Key': ['[REDACTED]'],
      'X-Session-Cookie': ['[REDACTED]'],
      'X-Tenant': ['acme'],
    },
  );
  t.equal(redactUri('/files/?key=AIza1&sig=abc%3D&sp=r&monkey=1'), '/files/?key=[REDACTED]&sig=[REDACTED]&sp=r&monkey=1');
});

t.test('a field in several spellings: a decision in any of them counts, different values fail the hook', async (t) => {
  // null is absent (as in Go), so the spelling that decides counts.
  t.same(parseHookResponse('{"RejectUpload":null,"REJECTUPLOAD":true}', null), { RejectUpload: true });
  t.same(parseHookResponse('{"rejectTermination":true,"RejectTermination":null}', null), { RejectTermination: true });
  t.same(parseHookResponse('{"RejectUpload":true,"rejectupload":true}', null), { RejectUpload: true }, 'the same value twice');
  // Objects given twice are merged field by field (Go decodes both into one struct); map keys too.
  t.same(
    parseHookResponse(
      '{"HTTPResponse":{"StatusCode":403},"httpResponse":{"body":"no","Header":{"X-A":"1"}},"HTTPRESPONSE":{"header":{"X-B":"2","x-a":"1"}}}',
      null,
    ),
    { HTTPResponse: { StatusCode: 403, Body: 'no', Header: { 'X-A': '1', 'X-B': '2' } } },
  );
  t.same(
    parseHookResponse('{"ChangeFileInfo":{"MetaData":{"k":"1","K":"2"}}}', null),
    { ChangeFileInfo: { MetaData: { k: '1', K: '2' } } },
    'metadata keys keep their case',
  );
  const conflicts: [string, RegExp][] = [
    [
      '{"RejectUpload":false,"rejectUpload":true}',
      /^RejectUpload is given more than once with different values \(as "RejectUpload", "rejectUpload"\)$/,
    ],
    ['{"rejectUpload":true,"RejectUpload":false}', /^RejectUpload is given more than once/],
    // JSON.parse keeps only the last of two equal keys; the answer as written is read.
    ['{"RejectUpload":true,"RejectUpload":false}', /^RejectUpload is given more than once with different values \(as "RejectUpload"\)$/],
    ['{"RejectTermination":false,"REJECTTERMINATION":true}', /^RejectTermination is given more than once/],
    ['{"StopUpload":true,"stopUpload":false}', /^StopUpload is given more than once/],
    ['{"RejectUpload":"true","rejectUpload":true}', /^RejectUpload is given more than once/],
    ['{"HTTPResponse":{"StatusCode":403},"httpResponse":{"statusCode":200}}', /^HTTPResponse\.StatusCode is given more than once/],
    ['{"HTTPResponse":{"StatusCode":0,"statusCode":403}}', /^HTTPResponse\.StatusCode is given more than once/],
    ['{"HTTPResponse":{"Body":"a","BODY":"b"}}', /^HTTPResponse\.Body is given more than once/],
    ['{"HTTPResponse":{"Header":{"X-A":"1","x-a":"2"}}}', /^HTTPResponse\.Header\["X-A"\] is given more than once .*"X-A", "x-a"/],
    ['{"HTTPResponse":{"Body":"a"},"httpResponse":"b"}', /^HTTPResponse is given more than once/],
    ['{"ChangeFileInfo":{"ID":"a"},"changeFileInfo":{"id":"b"}}', /^ChangeFileInfo\.ID is given more than once/],
    ['{"ChangeFileInfo":{"ID":"","id":"b"}}', /^ChangeFileInfo\.ID is given more than once/],
    ['{"ChangeFileInfo":{"MetaData":{"k":"1","k":"2"}}}', /^ChangeFileInfo\.MetaData\["k"\] is given more than once/],
  ];
  for (const [text, why] of conflicts) {
    t.throws(() => parseHookResponse(text, 'application/json'), { name: 'HookFailure', kind: 'invalid', message: why }, text);
  }
  // An invalid answer saying StopUpload in some spelling still stops a post-receive (mount.ts).
  const failure = (text: string) => {
    try {
      parseHookResponse(text, null);
    } catch (error) {
      return error as HookFailure;
    }
    throw new Error(`${text} parsed`);
  };
  t.equal(failure('{"StopUpload":true,"stopUpload":false}').stopUpload, true);
  t.equal(failure('{"stopUpload":true,"HTTPResponse":{"StatusCode":99}}').stopUpload, true);
  t.equal(failure('{"StopUpload":false,"HTTPResponse":{"StatusCode":99}}').stopUpload, false);
  // Unknown fields are not read, repeated or not; strings with escapes and nesting are read as JSON.
  t.same(parseHookResponse('{"X":1,"x":2,"a":[{"b":"c\\"d"},[]],"HTTPResponse":{"Body":"\\u00e9\\"}"}}', null), {
    HTTPResponse: { Body: 'é"}' },
  });
});

t.test('post-receive is throttled to the interval, reported once at the end, and StopUpload aborts', async (t) => {
  let now = 0;
  const reported: number[] = [];
  let stopAt = Number.POSITIVE_INFINITY;
  const progress = new Progress({
    startOffset: 100,
    interval: 1000,
    now: () => now,
    report: async (offset) => {
      reported.push(offset);
      return { stop: offset >= stopAt, response: { StatusCode: 410 } };
    },
  });
  for (let i = 0; i < 30; i++) {
    now += 100;
    progress.onBytes(10);
  }
  t.same(reported, [200, 300, 400], 'every 1000 ms while bytes arrive');
  progress.end();
  t.same(reported, [200, 300, 400], 'nothing new at the end: no report');
  now += 100;
  progress.onBytes(5);
  progress.end();
  t.same(reported, [200, 300, 400], 'nothing after the end');
  t.notOk(progress.stopped);

  const stopping = new Progress({
    startOffset: 0,
    interval: 10,
    now: () => now,
    report: async (offset) => {
      reported.push(offset);
      return { stop: true, response: { StatusCode: 410, Body: 'gone' } };
    },
  });
  stopAt = 0;
  now += 10;
  stopping.onBytes(7);
  await new Promise((r) => setImmediate(r));
  t.ok(stopping.stop.aborted, 'StopUpload aborts the body');
  t.same(stopping.stoppedWith, { StatusCode: 410, Body: 'gone' });
  stopping.end();
  t.equal(reported.at(-1), 7, 'no last report once stopped');
});

t.test('HOOKS_* configuration', async (t) => {
  t.equal(parseConfig({}).hooks, undefined, 'off without HOOKS_HTTP_URL');
  const hooks = parseConfig({ HOOKS_HTTP_URL: 'http://127.0.0.1:9/hooks', ...SECRETS }).hooks;
  t.same([...(hooks?.events ?? [])].sort(), [...DEFAULT_EVENTS].sort(), "tusd's default events");
  t.match(hooks, {
    timeout: 15_000,
    maxResponseSize: 5120,
    progressInterval: 1000,
    retryDelay: 1000,
    retryMaxDelay: 300_000,
    retryMaxAge: 0,
  });
  const custom = parseConfig({
    HOOKS_HTTP_URL: 'https://hooks.example.com/tus',
    ...SECRETS,
    HOOKS_ENABLED_EVENTS: ' pre-terminate , post-terminate ',
    HOOKS_HTTP_TIMEOUT: '2s',
    HOOKS_HTTP_MAX_RESPONSE_SIZE: '64kb',
    HOOKS_HTTP_FORWARD_HEADERS: 'Authorization, X-Tenant',
    HOOKS_PROGRESS_INTERVAL: '250ms',
    HOOKS_RETRY_MAX_AGE: '7d',
  }).hooks;
  t.same([...(custom?.events ?? [])], ['pre-terminate', 'post-terminate']);
  t.match(custom, { timeout: 2000, maxResponseSize: 65536, forwardHeaders: ['Authorization', 'X-Tenant'], progressInterval: 250 });
  t.equal(custom?.retryMaxAge, 7 * 86_400_000);

  const problems = (env: Record<string, string>) => configProblems(env).join('\n');
  t.match(
    problems({ HOOKS_HTTP_URL: 'http://x/h', ...SECRETS, HOOKS_ENABLED_EVENTS: 'post-finish,on-finish' }),
    /HOOKS_ENABLED_EVENTS="post-finish,on-finish": unknown event "on-finish"; expected a comma-separated list of pre-create, post-create/,
  );
  t.match(problems({ HOOKS_HTTP_URL: 'http://x/h' }), /HOOKS_HTTP_SECRET=unset: required when HOOKS_HTTP_URL is set/);
  const short = problems({ HOOKS_HTTP_URL: 'http://x/h', HOOKS_HTTP_SECRET: 'short-secret' });
  t.match(short, /HOOKS_HTTP_SECRET=\(hidden\): at least 16 characters/);
  t.notOk(short.includes('short-secret'), 'the value is never repeated');
  t.match(problems({ ...SECRETS }), /HOOKS_HTTP_SECRET: set, but HOOKS_HTTP_URL is not/);
  t.match(
    problems({ HOOKS_HTTP_URL: 'ftp://x/h', ...SECRETS }),
    /HOOKS_HTTP_URL="ftp:\/\/x\/h": expected the URL of the hook receiver with http/,
  );
  t.match(
    problems({ HOOKS_HTTP_URL: 'http://x/h', ...SECRETS, HOOKS_HTTP_TIMEOUT: 'soon' }),
    /HOOKS_HTTP_TIMEOUT="soon": expected a duration/,
  );
  t.match(
    problems({ HOOKS_HTTP_URL: 'http://x/h', ...SECRETS, HOOKS_RETRY_DELAY: '10s', HOOKS_RETRY_MAX_DELAY: '1s' }),
    /HOOKS_RETRY_MAX_DELAY=1000: must not be shorter than HOOKS_RETRY_DELAY/,
  );
  t.match(problems({ HOOKS_HTTP_URL: 'http://x/h', ...SECRETS, HOOKS_HTTP_FORWARD_HEADERS: 'X Bad' }), /"X Bad" is not a header name/);
  // The client's Content-Length on a hook request made every hook wait for bytes that never came (504s).
  for (const name of ['Content-Length', 'transfer-encoding', 'Host', 'idempotency-key', 'Tus-Hook-Signature', 'Content-Type']) {
    t.match(
      problems({ HOOKS_HTTP_URL: 'http://x/h', ...SECRETS, HOOKS_HTTP_FORWARD_HEADERS: `X-Tenant,${name}` }),
      new RegExp(`HOOKS_HTTP_FORWARD_HEADERS="X-Tenant,${name}": "${name}" cannot be forwarded`),
      name,
    );
  }
});

t.test('the hook request’s own headers win over forwarded ones, whatever their case', async (t) => {
  const server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume().on('end', () => res.writeHead(204).end());
  });
  const seen: IncomingHttpHeaders[] = [];
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  await callHook(
    { url: `http://app:pw@127.0.0.1:${port}/hooks`, secret: KEY, timeout: 5000, maxResponseSize: 100 },
    { body: '{}', idempotencyKey: 'key-1', headers: { authorization: 'Bearer client-token', 'x-tenant': 'acme' } },
  );
  t.equal(seen[0]?.authorization, `Basic ${Buffer.from('app:pw').toString('base64')}`, 'only the URL’s credentials');
  t.equal(seen[0]?.['x-tenant'], 'acme');
  t.equal(seen[0]?.['idempotency-key'], 'key-1');
});

t.test('credentials in HOOKS_HTTP_URL become Basic authentication (fetch refuses them in the URL)', async (t) => {
  t.same(splitCredentials('https://hooks.example.com/tus'), { url: 'https://hooks.example.com/tus' });
  t.same(splitCredentials('https://app:p%40ss@hooks.example.com/tus?x=1'), {
    url: 'https://hooks.example.com/tus?x=1',
    authorization: `Basic ${Buffer.from('app:p@ss').toString('base64')}`,
  });
});

t.test('a durable hook recorded while the server closes is stored for the next start, not dropped', async (t) => {
  const records = new Map<string, string>();
  const keeper = {
    putRecord: async (_kind: string, name: string, text: string) => void records.set(name, text),
    readRecord: async (_kind: string, name: string) => records.get(name),
    deleteRecord: async (_kind: string, name: string) => void records.delete(name),
    listRecords: async () => [...records.keys()],
  };
  const outbox = new Outbox('local', keeper);
  const quiet = { info() {}, warn() {}, error() {} };
  const delivery = new Delivery({
    // Nothing listens there: an attempt would fail (and be retried), never succeed.
    target: { url: 'http://127.0.0.1:9/hooks', secret: KEY, timeout: 1000, maxResponseSize: 100 },
    retryDelay: 10,
    retryMaxDelay: 10,
    retryMaxAge: 0,
    log: quiet,
  });
  await delivery.close();
  const entry = { key: 'k-1', event: 'post-finish' as const, uploadId: 'u1', createdAt: Date.now(), body: '{"Type":"post-finish"}' };
  await delivery.enqueue(outbox, entry);
  t.same(JSON.parse(records.get('k-1') ?? 'null'), entry, 'in the outbox');
  t.same(delivery.pending(), {}, 'no attempt while closed');
});

t.test('an undelivered hook waits in the outbox, not in memory: read again for each retry, dropped once gone', async (t) => {
  const records = new Map<string, string>();
  let reads = 0;
  const keeper = {
    putRecord: async (_kind: string, name: string, text: string) => void records.set(name, text),
    readRecord: async (_kind: string, name: string) => {
      reads += 1;
      return records.get(name);
    },
    deleteRecord: async (_kind: string, name: string) => void records.delete(name),
    listRecords: async () => [...records.keys()],
  };
  const bodies: string[] = [];
  const receiver = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8').on('data', (c: string) => (text += c));
    req.on('end', () => {
      bodies.push(text);
      res.writeHead(503).end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  const { port } = receiver.address() as AddressInfo;
  const delivery = new Delivery({
    target: { url: `http://127.0.0.1:${port}/hooks`, secret: KEY, timeout: 5000, maxResponseSize: 100 },
    retryDelay: 20,
    retryMaxDelay: 20,
    retryMaxAge: 0,
    log: { info() {}, warn() {}, error() {} },
  });
  t.teardown(async () => {
    await delivery.close();
    receiver.close();
  });
  const outbox = new Outbox('local', keeper);
  const body = '{"Type":"post-finish","n":1}';
  await delivery.enqueue(outbox, { key: 'k-2', event: 'post-finish', uploadId: 'u2', createdAt: Date.now(), body });
  await until(() => bodies.length >= 3, 'three attempts');
  t.ok(reads >= 2, `retries read the body from the outbox (${reads} reads)`);
  t.same(new Set(bodies), new Set([body]), 'the same body every time');
  // Delivered by another instance (or given up there): nothing more is sent.
  records.delete('k-2');
  await until(() => Object.keys(delivery.pending()).length === 0, 'nothing pending');
  const sent = bodies.length;
  await new Promise((r) => setTimeout(r, 100));
  t.equal(bodies.length, sent, 'no attempt once the record is gone');
});
