/**
 * HTTP hooks over real HTTP (issue 12, item 3): a receiver written here, on 127.0.0.1, checks the
 * signature of every request and is scripted per test. tusd v2's request and response formats,
 * rejections, changed ids and metadata, a stopped upload, a rejected termination, blocking hooks
 * failing closed, and post-finish retried until the receiver takes it, on every driver (local, S3, Azure).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Metadata } from '@tus/utils';
import t, { type Test } from 'tap';
import { verifySignature } from '../../src/hooks/signature.js';
import { b64, createUpload, head, patch, type RunningApp, startApp, TUS } from '../helpers/app.js';
import { azureTestServer } from '../helpers/azure.js';
import { type DriverName, everyDriver, storedUnder } from '../helpers/drivers.js';
import { HookReceiver, type ReceivedHook, signatureMatches } from '../helpers/hook-receiver.js';
import { lastSegment } from '../helpers/ids.js';
import { freePort } from '../helpers/process.js';
import { drippedPatch } from '../helpers/raw-request.js';
import { s3TestServer } from '../helpers/s3.js';
import { metric, until } from '../helpers/wait.js';

const SECRETS = { HOOKS_HTTP_SECRET: 'tus-hook-test-secret-7c41e0a9' } as const;
const SECRET = SECRETS.HOOKS_HTTP_SECRET;
const ALL_EVENTS = 'pre-create,post-create,post-receive,pre-finish,post-finish,pre-terminate,post-terminate';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const server = s3TestServer();

const hookEnv = (url: string, extra: Record<string, string> = {}) => ({
  HOOKS_HTTP_URL: url,
  ...SECRETS,
  HOOKS_RETRY_DELAY: '50',
  HOOKS_RETRY_MAX_DELAY: '200',
  ...extra,
});

async function setup(t: Test, extra: Record<string, string> = {}, storage: Record<string, string> = {}) {
  const receiver = await HookReceiver.start(SECRET);
  const app = await startApp({ ...storage, ...hookEnv(receiver.url, extra) });
  t.teardown(async () => {
    await app.close();
    await receiver.close();
  });
  return { receiver, app };
}

const octet = { 'Content-Type': 'application/offset+octet-stream' };
const uploadFiles = (app: RunningApp) => readdirSync(app.root).filter((f) => !f.startsWith('.'));

t.test('hook requests are tusd v2 HookRequests, signed, with credentials redacted', async (t) => {
  const { receiver, app } = await setup(t, { HOOKS_ENABLED_EVENTS: 'pre-create,post-create,post-receive,pre-finish,post-finish' });
  const created = await fetch(`${app.url}/files/?x=1&access_token=query-token-value-1`, {
    method: 'POST',
    headers: {
      ...TUS,
      'Upload-Length': '5',
      'Upload-Metadata': `filename ${b64('a.txt')},flag`,
      Authorization: 'Bearer header-token-value-2',
      Cookie: 'session=cookie-value-3',
      'X-Api-Key': 'api-key-value-4',
    },
  });
  t.equal(created.status, 201);
  const url = new URL(created.headers.get('location') as string, app.url).toString();
  const id = lastSegment(url);
  t.equal((await patch(url, 0, Buffer.from('hello'))).status, 204);
  await until(() => receiver.of('post-finish').length === 1 && receiver.of('post-receive').length === 1, 'post-finish');

  t.same(receiver.received.map((h) => h.type).sort(), ['post-create', 'post-finish', 'post-receive', 'pre-create', 'pre-finish']);
  for (const hook of receiver.received) {
    t.ok(hook.signed, `${hook.type}: Tus-Hook-Signature verifies`);
    t.same(Object.keys(hook.body), ['Type', 'Event', 'IdempotencyKey'], `${hook.type}: top-level fields`);
    t.same(Object.keys(hook.body.Event), ['Upload', 'HTTPRequest', 'Subject']);
    t.same(
      Object.keys(hook.body.Event.Upload),
      ['ID', 'Size', 'SizeIsDeferred', 'Offset', 'MetaData', 'IsPartial', 'IsFinal', 'PartialUploads', 'Storage'],
      `${hook.type}: Upload fields are tusd's FileInfo`,
    );
    t.same(Object.keys(hook.body.Event.HTTPRequest), ['Method', 'URI', 'RemoteAddr', 'Header']);
    t.match(hook.body.IdempotencyKey, UUID);
    t.equal(hook.headers['idempotency-key'], hook.body.IdempotencyKey, 'Idempotency-Key header = body');
    t.equal(hook.headers['content-type'], 'application/json');
    for (const secret of ['query-token-value-1', 'header-token-value-2', 'cookie-value-3', 'api-key-value-4']) {
      t.notOk(hook.raw.includes(secret), `${hook.type}: no credential in the payload`);
    }
  }
  const [preCreate] = receiver.of('pre-create') as [ReceivedHook];
  t.same(preCreate.body.Event.Upload, {
    ID: '',
    Size: 5,
    SizeIsDeferred: false,
    Offset: 0,
    MetaData: { filename: 'a.txt', flag: '' },
    IsPartial: false,
    IsFinal: false,
    PartialUploads: null,
    Storage: null,
  });
  const http = preCreate.body.Event.HTTPRequest;
  t.equal(http.Method, 'POST');
  t.equal(http.URI, '/files/?x=1&access_token=[REDACTED]');
  t.match(http.RemoteAddr, /^127\.0\.0\.1:\d+$/);
  t.same(http.Header.Authorization, ['Bearer [REDACTED]'], 'Authorization redacted, scheme kept');
  t.same(http.Header.Cookie, ['[REDACTED]']);
  t.same(http.Header['X-Api-Key'], ['[REDACTED]']);
  t.same(http.Header['Upload-Length'], ['5'], 'header names canonical, values arrays');
  t.same(http.Header['Tus-Resumable'], ['1.0.0']);
  t.same(http.Header.Host, [new URL(app.url).host]);
  t.equal(preCreate.body.Event.Subject, null, 'no subject without authentication');

  const [finish] = receiver.of('post-finish') as [ReceivedHook];
  t.same(finish.body.Event.Upload, {
    ID: id,
    Size: 5,
    SizeIsDeferred: false,
    Offset: 5,
    MetaData: { filename: 'a.txt', flag: '' },
    IsPartial: false,
    IsFinal: false,
    PartialUploads: null,
    Storage: { Type: 'filestore', Path: join(app.root, id), InfoPath: join(app.root, `${id}.json`) },
  });
  t.equal(finish.body.Event.HTTPRequest.Method, 'PATCH');
  t.equal(finish.body.Event.HTTPRequest.URI, `/files/${id}`);
  t.equal(receiver.of('post-receive')[0]?.body.Event.Upload.Offset, 5, 'post-receive at the end of the body');
  t.equal(receiver.of('post-create')[0]?.body.Event.Upload.ID, id);
  t.equal(receiver.of('pre-finish')[0]?.body.Event.Upload.Offset, 5);
  t.equal(new Set(receiver.received.map((h) => h.body.IdempotencyKey)).size, 5, 'one key per event');

  // The signature covers the exact bytes: a changed body or another secret does not verify.
  const header = finish.headers['tus-hook-signature'] as string;
  t.match(header, /^t=\d+,v1=[0-9a-f]{64}$/);
  t.ok(verifySignature(header, finish.raw, SECRET), 'verifySignature accepts the request');
  const tampered = finish.raw.replace('"Offset":5', '"Offset":6');
  t.not(tampered, finish.raw);
  t.notOk(signatureMatches(header, tampered, SECRET), 'a tampered body does not verify');
  t.notOk(verifySignature(header, tampered, SECRET), 'verifySignature refuses a tampered body');
  t.notOk(verifySignature(header, finish.raw, 'another-secret-of-16+chars'), 'nor another secret');
  t.notOk(verifySignature(header, finish.raw, SECRET, { now: Date.now() + 10 * 60_000 }), 'nor a signature older than 5 minutes');
});

t.test('pre-create: RejectUpload answers with the receiver’s HTTPResponse and creates nothing', async (t) => {
  const { receiver, app } = await setup(t);
  receiver.respond = (hook) =>
    hook.type === 'pre-create'
      ? {
          body: {
            RejectUpload: true,
            HTTPResponse: {
              StatusCode: 403,
              Body: '{"message":"no project 1234"}',
              Header: { 'Content-Type': 'application/json', 'X-Reason': 'quota' },
            },
          },
        }
      : {};
  const res = await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '3' } });
  t.equal(res.status, 403);
  t.equal(await res.text(), '{"message":"no project 1234"}');
  t.equal(res.headers.get('content-type'), 'application/json');
  t.equal(res.headers.get('x-reason'), 'quota');
  t.equal(res.headers.get('location'), null);

  // RejectUpload alone: tusd's 400 and error code.
  receiver.respond = (hook) => (hook.type === 'pre-create' ? { body: { RejectUpload: true } } : {});
  const plainReject = await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '3' } });
  t.equal(plainReject.status, 400);
  t.match(await plainReject.text(), /^ERR_UPLOAD_REJECTED: .*nothing was created/);
  t.same(uploadFiles(app), [], 'nothing created');
  t.equal(receiver.of('post-create').length, 0, 'no post-create');
});

t.test('pre-create: ChangeFileInfo sets the id and replaces the metadata', async (t) => {
  const { receiver, app } = await setup(t);
  const chosen = `project-42-${randomBytes(6).toString('hex')}`;
  receiver.respond = (hook) =>
    hook.type === 'pre-create'
      ? {
          body: {
            ChangeFileInfo: {
              ID: hook.body.Event.Upload.IsPartial ? `${chosen}-part` : chosen,
              MetaData: { filename: 'renamed.txt', project: '42' },
            },
            HTTPResponse: { Header: { 'X-Project': '42' } },
          },
        }
      : {};
  const res = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': '2', 'Upload-Metadata': `filename ${b64('original.txt')},secret ${b64('x')}` },
  });
  t.equal(res.status, 201);
  t.equal(res.headers.get('x-project'), '42', 'the HTTPResponse header is on the 201');
  const location = res.headers.get('location') as string;
  t.equal(new URL(location, app.url).pathname, `/files/${chosen}`, 'Location names the hook’s id');
  const state = await head(new URL(location, app.url).toString());
  t.equal(state.status, 200);
  t.same(Metadata.parse(state.headers.get('upload-metadata') as string), { filename: 'renamed.txt', project: '42' });
  await until(() => receiver.of('post-create').length === 1, 'post-create');
  t.equal(receiver.of('post-create')[0]?.body.Event.Upload.ID, chosen);
  t.same(receiver.of('post-create')[0]?.body.Event.Upload.MetaData, { filename: 'renamed.txt', project: '42' });

  // A partial upload keeps its concatenation mark under changed metadata.
  const partial = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': '2', 'Upload-Concat': 'partial' },
  });
  t.equal(partial.status, 201);
  const partialHead = await head(new URL(partial.headers.get('location') as string, app.url).toString());
  t.equal(partialHead.headers.get('upload-concat'), 'partial');
  t.same(Metadata.parse(partialHead.headers.get('upload-metadata') as string), { filename: 'renamed.txt', project: '42' });

  // An id that is not a valid upload id, or one already in use: 502 naming the hook, nothing created.
  for (const bad of ['../escape', chosen]) {
    receiver.respond = (hook) => (hook.type === 'pre-create' ? { body: { ChangeFileInfo: { ID: bad } } } : {});
    const refused = await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '1' } });
    t.equal(refused.status, 502, `id ${bad}`);
    t.match(await refused.text(), /pre-create hook .*nothing was created/);
  }
  t.same(uploadFiles(app).sort(), [chosen, `${chosen}-part`, `${chosen}-part.json`, `${chosen}.json`].sort());
});

t.test('pre-create: two creations given the same id at once: one is created, the other refused', async (t) => {
  const { receiver, app } = await setup(t, { HOOKS_ENABLED_EVENTS: 'pre-create' });
  const chosen = `doc-${randomBytes(6).toString('hex')}`;
  // Both answers come together, so both creations check the id before either creates it.
  let waiting: Array<() => void> = [];
  receiver.respond = async (hook) => {
    if (hook.type !== 'pre-create') return {};
    await new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (waiting.length === 2) for (const go of waiting) go();
    });
    return { body: { ChangeFileInfo: { ID: chosen, MetaData: { who: hook.body.Event.Upload.MetaData.who } } } };
  };
  const create = (who: string) =>
    fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '3', 'Upload-Metadata': `who ${b64(who)}` } });
  const answers = await Promise.all([create('alice'), create('bob')]);
  t.same(answers.map((a) => a.status).sort(), [201, 502], 'one created, one refused');
  const refused = answers.find((a) => a.status === 502) as Response;
  t.match(await refused.text(), /chose an upload id that is already in use; nothing was created/);
  const created = answers.find((a) => a.status === 201) as Response;
  const state = await head(new URL(created.headers.get('location') as string, app.url).toString());
  const winner = answers.indexOf(created) === 0 ? 'alice' : 'bob';
  t.same(Metadata.parse(state.headers.get('upload-metadata') as string), { who: winner }, 'the upload is the one its creator was told of');
  // Once the creation is over the id is free of its claim, and refused as in use by the upload itself.
  waiting = [];
  receiver.respond = (hook) => (hook.type === 'pre-create' ? { body: { ChangeFileInfo: { ID: `${chosen}-2` } } } : {});
  t.equal((await create('carol')).status, 201);
  t.equal((await create('dave')).status, 502);
});

t.test('pre-create: metadata keys a client could not send are refused (they broke every HEAD)', async (t) => {
  const { receiver, app } = await setup(t, { HOOKS_ENABLED_EVENTS: 'pre-create' });
  for (const key of ['a\u0001b', 'tab\there', 'clé', 'constructor']) {
    receiver.respond = (hook) => (hook.type === 'pre-create' ? { body: { ChangeFileInfo: { MetaData: { [key]: 'v' } } } } : {});
    const res = await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '3' } });
    t.equal(res.status, 502, JSON.stringify(key));
    t.match(await res.text(), /set the metadata key .* which is not valid .*nothing was created/);
  }
  t.same(uploadFiles(app), [], 'nothing created');
});

t.test('blocking hooks fail closed when the receiver is down, too slow or failing', async (t) => {
  const port = await freePort(); // nothing listens there
  const down = await startApp(hookEnv(`http://127.0.0.1:${port}/hooks`));
  t.teardown(() => down.close());
  const res = await fetch(`${down.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '3' } });
  t.equal(res.status, 502);
  t.match(
    await res.text(),
    /^The pre-create hook receiver \(HOOKS_HTTP_URL\) cannot reach the receiver \(ECONNREFUSED\); nothing was created/,
  );
  t.same(uploadFiles(down), []);

  const { receiver, app } = await setup(t, { HOOKS_HTTP_TIMEOUT: '300ms' });
  // The receiver answers after 6 s: an answer well before that came from the 300 ms timeout.
  receiver.respond = (hook) => (hook.type === 'pre-create' ? { delayMs: 6000 } : {});
  const started = Date.now();
  const slow = await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '3' } });
  t.equal(slow.status, 504);
  t.match(await slow.text(), /did not answer in time \(no answer within 300 ms\); nothing was created/);
  t.ok(Date.now() - started < 4000, `answered at the timeout (${Date.now() - started} ms)`);
  receiver.respond = (hook) => (hook.type === 'pre-create' ? { status: 500, body: 'boom' } : {});
  const failing = await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '3' } });
  t.equal(failing.status, 502);
  t.match(await failing.text(), /answered 500; nothing was created/);
  receiver.respond = (hook) => (hook.type === 'pre-create' ? { body: 'not json' } : {});
  const nonsense = await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '3' } });
  t.equal(nonsense.status, 502);
  t.match(await nonsense.text(), /invalid answer \(the answer is not JSON/);
  t.same(uploadFiles(app), []);
  t.equal(
    await metric(app.url, 'tus_hook_request_duration_seconds_count{event="pre-create",result="error"}'),
    3,
    'failed hook requests counted',
  );
});

const drivers = everyDriver('hooks', server);

for (const [driver, storage] of drivers) {
  t.test(`${driver}: StopUpload in a post-receive answer stops the PATCH and removes the upload`, async (t) => {
    const env = storage();
    const { receiver, app } = await setup(t, { HOOKS_ENABLED_EVENTS: ALL_EVENTS, HOOKS_PROGRESS_INTERVAL: '50ms' }, env);
    receiver.respond = (hook) =>
      hook.type === 'post-receive' && receiver.of('post-receive').length >= 3
        ? { body: { StopUpload: true, HTTPResponse: { StatusCode: 451, Body: 'project deleted', Header: { 'X-Stop-Reason': 'gone' } } } }
        : {};
    const total = 200 * 1000;
    const url = await createUpload(app.url, total);
    const answer = await slowPatch(url, 1000, 200, 20);
    t.equal(answer.status, 451, 'the hook’s status');
    t.equal(answer.body, 'project deleted');
    t.equal(answer.headers['x-stop-reason'], 'gone');
    t.ok(answer.sent < 200, `stopped mid-body (${answer.sent} of 200 chunks sent)`);
    t.equal((await head(url)).status, 404, 'the upload is gone');
    t.same(await storedUnder(driver, env, app.root, lastSegment(url)), [], 'its file, object or blob removed, with its state');
    await until(() => receiver.of('post-terminate').length === 1, 'post-terminate');
    t.equal(receiver.of('post-terminate')[0]?.body.Event.Upload.ID, lastSegment(url));
    const reports = receiver.of('post-receive').map((h) => h.body.Event.Upload.Offset as number);
    t.ok(reports.length >= 3, 'post-receive reported while the body arrived');
    t.same(
      reports,
      [...reports].sort((a, b) => a - b),
      'offsets grow',
    );
  });

  t.test(`${driver}: pre-terminate may keep an upload; post-terminate carries what was removed`, async (t) => {
    const { receiver, app } = await setup(t, { HOOKS_ENABLED_EVENTS: ALL_EVENTS }, storage());
    const url = await createUpload(app.url, 10, { 'Upload-Metadata': `filename ${b64('keep.bin')}` });
    t.equal((await patch(url, 0, Buffer.from('0123'))).status, 204);
    receiver.respond = (hook) =>
      hook.type === 'pre-terminate'
        ? { body: { RejectTermination: true, HTTPResponse: { StatusCode: 423, Body: 'under legal hold' } } }
        : {};
    const kept = await fetch(url, { method: 'DELETE', headers: TUS });
    t.equal(kept.status, 423);
    t.equal(await kept.text(), 'under legal hold');
    t.equal((await head(url)).headers.get('upload-offset'), '4', 'the upload is still there');
    t.equal(receiver.of('post-terminate').length, 0);

    receiver.respond = (hook) => (hook.type === 'pre-terminate' ? { body: { RejectTermination: true } } : {});
    const plainReject = await fetch(url, { method: 'DELETE', headers: TUS });
    t.equal(plainReject.status, 400);
    t.match(await plainReject.text(), /^ERR_UPLOAD_TERMINATION_REJECTED: .*the upload is kept/);

    receiver.respond = () => ({});
    const removed = await fetch(url, { method: 'DELETE', headers: TUS });
    t.equal(removed.status, 204);
    t.equal((await head(url)).status, 404);
    await until(() => receiver.of('post-terminate').length === 1, 'post-terminate');
    const upload = receiver.of('post-terminate')[0]?.body.Event.Upload;
    t.match(upload, { ID: lastSegment(url), Size: 10, Offset: 4, MetaData: { filename: 'keep.bin' } });
    t.equal(receiver.of('pre-terminate').length, 3);
    t.equal(receiver.of('pre-terminate')[0]?.body.Event.HTTPRequest.Method, 'DELETE');
    const key = new RegExp(`${lastSegment(url)}$`);
    if (driver === 's3') t.match(upload.Storage, { Type: 's3store', Bucket: server.bucket, Key: key });
    // tusd's azurestore reports its container and the blob's name.
    if (driver === 'azure') t.match(upload.Storage, { Type: 'azurestore', Container: azureTestServer().container, Key: key });
  });

  t.test(`${driver}: post-finish is kept and retried until the receiver answers 2xx`, async (t) => {
    const env = storage();
    const { receiver, app } = await setup(t, {}, env);
    let failures = 0;
    // Two failures, then a 2xx whose body is no hook response (and longer than the limit): taken.
    receiver.respond = (hook) =>
      hook.type !== 'post-finish'
        ? {}
        : failures++ < 2
          ? { status: 500 }
          : { status: 202, body: `<html>${'x'.repeat(10_000)}</html>`, headers: { 'Content-Type': 'text/html' } };
    const url = await createUpload(app.url, 3);
    t.equal((await patch(url, 0, Buffer.from('abc'))).status, 204);
    // While the receiver fails, the delivery is in the outbox.
    const outbox = () => outboxRecords(driver, app, env);
    await until(() => receiver.of('post-finish').length >= 1, 'first attempt');
    t.ok((await outbox()).length === 1 || receiver.of('post-finish').length === 3, 'stored while undelivered');
    await until(() => receiver.of('post-finish').length === 3, 'third attempt');
    await until(async () => (await outbox()).length === 0, 'outbox emptied');
    const attempts = receiver.of('post-finish');
    t.equal(new Set(attempts.map((h) => h.raw)).size, 1, 'the same body every time');
    t.equal(new Set(attempts.map((h) => h.headers['idempotency-key'])).size, 1, 'the same idempotency key');
    t.ok(
      attempts.every((h) => h.signed),
      'every attempt signed',
    );
    await until(
      async () => (await metric(app.url, 'tus_hook_deliveries_total{event="post-finish",result="delivered"}')) === 1,
      'delivered counted',
    );
    t.equal(await metric(app.url, 'tus_hook_deliveries_total{event="post-finish",result="failed"}'), 2);
    t.equal(await metric(app.url, `tus_hook_deliveries_pending{location="${driver}"}`), 0);
    await new Promise((r) => setTimeout(r, 300));
    t.equal(receiver.of('post-finish').length, 3, 'not sent again once delivered');
  });

  t.test(`${driver}: an empty PATCH to a complete upload finishes nothing again (as tusd)`, async (t) => {
    const { receiver, app } = await setup(t, { HOOKS_ENABLED_EVENTS: 'pre-finish,post-finish' }, storage());
    // post-finish stays undelivered, so what was recorded is counted by the pending gauge.
    receiver.respond = (hook) => (hook.type === 'post-finish' ? { status: 503 } : {});
    const url = await createUpload(app.url, 3);
    t.equal((await patch(url, 0, Buffer.from('abc'))).status, 204);
    for (let i = 0; i < 3; i++) {
      const again = await patch(url, 3, Buffer.alloc(0));
      t.equal(again.status, 204);
      t.equal(again.headers.get('upload-offset'), '3');
    }
    t.equal(receiver.of('pre-finish').length, 1, 'pre-finish once');
    // Recorded before each answer: a repeat would be pending by now.
    t.equal(await metric(app.url, `tus_hook_deliveries_pending{location="${driver}"}`), 1, 'one post-finish recorded');
    await until(() => receiver.of('post-finish').length >= 1, 'post-finish attempted');
    t.same(new Set(receiver.of('post-finish').map((h) => h.body.IdempotencyKey)).size, 1, 'one event');

    // An empty PATCH that declares a deferred length equal to the offset does finish the upload.
    const deferred = await createUpload(app.url, 'deferred');
    t.equal((await patch(deferred, 0, Buffer.from('xyz'))).status, 204);
    t.equal((await patch(deferred, 3, Buffer.alloc(0), { 'Upload-Length': '3' })).status, 204);
    t.equal(receiver.of('pre-finish').at(-1)?.body.Event.Upload.ID, lastSegment(deferred), 'pre-finish of the deferred upload');
    t.equal(await metric(app.url, `tus_hook_deliveries_pending{location="${driver}"}`), 2, 'its post-finish recorded');
  });
}

t.test('pre-finish: its HTTPResponse is merged into the last PATCH’s answer; if it fails, post-finish still comes', async (t) => {
  const { receiver, app } = await setup(t, { HOOKS_ENABLED_EVENTS: 'pre-finish,post-finish' });
  receiver.respond = (hook) =>
    hook.type === 'pre-finish' ? { body: { HTTPResponse: { Header: { Link: '<https://example.com/f/1>; rel="related"' } } } } : {};
  const url = await createUpload(app.url, 2);
  const last = await patch(url, 0, Buffer.from('ab'));
  t.equal(last.status, 204);
  t.equal(last.headers.get('link'), '<https://example.com/f/1>; rel="related"');

  receiver.respond = (hook) => (hook.type === 'pre-finish' ? { status: 503 } : {});
  const second = await createUpload(app.url, 2);
  const failed = await patch(second, 0, Buffer.from('cd'));
  t.equal(failed.status, 502);
  t.match(await failed.text(), /pre-finish hook receiver .* answered 503; every byte is stored and the upload is complete/);
  t.equal((await head(second)).headers.get('upload-offset'), '2');
  await until(
    () => receiver.of('post-finish').some((h) => h.body.Event.Upload.ID === lastSegment(second)),
    'post-finish of the second upload',
  );
});

t.test('creation-with-upload: pre-finish merged over pre-create (tusd’s order), and the 201’s Location kept', async (t) => {
  const { receiver, app } = await setup(t, { HOOKS_ENABLED_EVENTS: 'pre-create,pre-finish' });
  receiver.respond = (hook) =>
    hook.type === 'pre-create'
      ? { body: { HTTPResponse: { Header: { 'X-Who': 'pre-create', 'X-Project': '42' }, Body: 'from pre-create' } } }
      : hook.type === 'pre-finish'
        ? { body: { HTTPResponse: { StatusCode: 200, Header: { 'X-Who': 'pre-finish' }, Body: '{"file":"ready"}' } } }
        : {};
  const res = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': '3', ...octet },
    body: 'abc',
  });
  t.equal(res.status, 200, 'pre-finish’s status');
  t.equal(await res.text(), '{"file":"ready"}', 'pre-finish’s body');
  t.equal(res.headers.get('x-who'), 'pre-finish', 'pre-finish’s header over pre-create’s');
  t.equal(res.headers.get('x-project'), '42', 'pre-create’s other headers kept');
  const location = res.headers.get('location');
  t.ok(location, 'the client still learns the upload’s URL');
  t.equal((await head(new URL(location as string, app.url).toString())).headers.get('upload-offset'), '3');
});

t.test('concatenation: pre-create sees the final upload (IsFinal, PartialUploads) and post-finish follows', async (t) => {
  const { receiver, app } = await setup(t, { HOOKS_ENABLED_EVENTS: 'pre-create,pre-finish,post-finish' });
  const parts: string[] = [];
  for (const text of ['ab', 'cd']) {
    const url = await createUpload(app.url, 2, { 'Upload-Concat': 'partial' });
    t.equal((await patch(url, 0, Buffer.from(text))).status, 204);
    parts.push(url);
  }
  const final = `final-${randomBytes(4).toString('hex')}`;
  receiver.respond = (hook) =>
    hook.type === 'pre-create' && hook.body.Event.Upload.IsFinal
      ? { body: { ChangeFileInfo: { ID: final } } }
      : hook.type === 'pre-finish' && hook.body.Event.Upload.IsFinal
        ? { body: { HTTPResponse: { Header: { 'X-Assembled': hook.body.Event.Upload.ID } } } }
        : {};
  const res = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Concat': `final;${parts.map((p) => new URL(p).pathname).join(' ')}` },
  });
  t.equal(res.status, 201);
  t.equal(new URL(res.headers.get('location') as string).pathname, `/files/${final}`);
  t.equal(res.headers.get('x-assembled'), final, 'pre-finish of the final upload, merged into its 201');
  const pre = receiver.of('pre-create').at(-1);
  t.match(pre?.body.Event.Upload, { ID: '', Size: 4, IsFinal: true, IsPartial: false, PartialUploads: parts.map(lastSegment) });
  t.match(receiver.of('pre-create')[0]?.body.Event.Upload, { IsPartial: true, IsFinal: false, PartialUploads: null });
  await until(() => receiver.of('post-finish').some((h) => h.body.Event.Upload.ID === final), 'post-finish of the final upload');
  const finished = receiver.of('post-finish').find((h) => h.body.Event.Upload.ID === final);
  t.match(finished?.body.Event.Upload, { Size: 4, Offset: 4, IsFinal: true, PartialUploads: parts.map(lastSegment) });
  t.equal(receiver.of('post-finish').filter((h) => h.body.Event.Upload.IsPartial).length, 2, 'partials finish too (as in tusd)');

  receiver.respond = (hook) => (hook.type === 'pre-create' && hook.body.Event.Upload.IsFinal ? { body: { RejectUpload: true } } : {});
  // New partials: each goes into one final upload (TUS_CONCAT_MAX_USES).
  const unused = await createUpload(app.url, 2, { 'Upload-Concat': 'partial' });
  t.equal((await patch(unused, 0, Buffer.from('ef'))).status, 204);
  const refused = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Concat': `final;${new URL(unused).pathname}` },
  });
  t.equal(refused.status, 400);
  t.match(await refused.text(), /^ERR_UPLOAD_REJECTED/);
});

t.test('the authenticated subject is in every hook request; forwarded headers are sent as headers only', async (t) => {
  const token = `static-${randomBytes(8).toString('hex')}`;
  const hash = createHash('sha256').update(token).digest('hex');
  const { receiver, app } = await setup(t, {
    AUTH_STATIC_TOKENS: `ci:${hash}`,
    HOOKS_ENABLED_EVENTS: 'pre-create,post-finish',
    HOOKS_HTTP_FORWARD_HEADERS: 'Authorization,X-Tenant',
  });
  const auth = { Authorization: `Bearer ${token}`, 'X-Tenant': 'acme' };
  const url = await createUpload(app.url, 1, auth);
  t.equal((await patch(url, 0, Buffer.from('z'), auth)).status, 204);
  await until(() => receiver.of('post-finish').length === 1, 'post-finish');
  for (const hook of receiver.received) {
    t.equal(hook.body.Event.Subject, 'token:ci', `${hook.type}: subject`);
    t.equal(hook.headers.authorization, `Bearer ${token}`, `${hook.type}: Authorization forwarded as a header`);
    t.equal(hook.headers['x-tenant'], 'acme');
    t.notOk(hook.raw.includes(token), `${hook.type}: the token is not in the payload`);
  }
});

/** PATCH `chunks` chunks of `size` bytes, one every `everyMs`, until the server answers (a connection error before it fails the test). */
async function slowPatch(url: string, size: number, chunks: number, everyMs: number) {
  const answer = await drippedPatch(url, size, chunks, everyMs);
  if (answer.error) throw answer.error;
  return answer;
}

/** Names of the outbox records of the app's default location. */
async function outboxRecords(driver: DriverName, app: RunningApp, env: Record<string, string>): Promise<string[]> {
  if (driver !== 'local') return storedUnder(driver, env, app.root, '.tus-hooks/');
  const dir = join(app.root, '.tus-hooks');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
}
