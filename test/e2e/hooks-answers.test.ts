/**
 * Hook answers the client must be able to act on (issue 21): a creation whose pre-finish fails
 * still tells the client where its upload is (tus, the IETF draft, concatenation, tus-js-client),
 * and a hook answer naming a field in several spellings is never read leniently. Real HTTP
 * throughout: the scripted receiver of test/helpers/hook-receiver.ts, on every driver (local, S3, Azure).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import * as tus from 'tus-js-client';
import { createUpload, head, logDir, patch, startApp, TUS } from '../helpers/app.js';
import { everyDriver } from '../helpers/drivers.js';
import { HookReceiver } from '../helpers/hook-receiver.js';
import { idOf } from '../helpers/ids.js';
import { drippedPatch } from '../helpers/raw-request.js';
import { s3TestServer } from '../helpers/s3.js';
import { until } from '../helpers/wait.js';

const SECRET = 'tus-hook-test-secret-21a4c9e0';
const server = s3TestServer();
const octet = { 'Content-Type': 'application/offset+octet-stream' };
const V6 = { 'Upload-Draft-Interop-Version': '6' } as const;

async function setup(t: Test, events: string, storage: Record<string, string> = {}) {
  const receiver = await HookReceiver.start(SECRET);
  const app = await startApp({
    ...storage,
    HOOKS_HTTP_URL: receiver.url,
    HOOKS_HTTP_SECRET: SECRET,
    HOOKS_ENABLED_EVENTS: events,
    HOOKS_RETRY_DELAY: '50',
    HOOKS_RETRY_MAX_DELAY: '200',
    HOOKS_PROGRESS_INTERVAL: '50ms',
  });
  t.teardown(async () => {
    await app.close();
    await receiver.close();
  });
  return { receiver, app };
}

/** The app log's lines (all apps of this test process write to one file). */
function logLines(): Record<string, unknown>[] {
  return readFileSync(join(logDir, `app-${process.pid}.log`), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const drivers = everyDriver('hook-answers', server);

for (const [driver, storage] of drivers) {
  t.test(`${driver}: a creation whose pre-finish fails gets its upload's Location and offset with the 502`, async (t) => {
    const { receiver, app } = await setup(t, 'pre-finish,post-create,post-finish', storage());
    receiver.respond = (hook) => (hook.type === 'pre-finish' ? { status: 503 } : {});
    const res = await fetch(`${app.url}/files/`, {
      method: 'POST',
      headers: { ...TUS, ...octet, 'Upload-Length': '5', Origin: 'https://app.example' },
      body: 'hello',
    });
    const body = await res.text();
    t.equal(res.status, 502, body);
    const location = res.headers.get('location');
    t.ok(location, 'the Location of the upload that exists');
    t.equal(res.headers.get('upload-offset'), '5');
    t.equal(res.headers.get('tus-resumable'), '1.0.0');
    t.match(
      body,
      new RegExp(
        `^The pre-finish hook receiver \\(HOOKS_HTTP_URL\\) answered 503; every byte is stored and the upload is complete: it exists at ${location} \\(this answer's Location\\)\\. Do not send the POST again, which would create another upload: HEAD the Location to see it is complete\\.\\n$`,
      ),
    );
    // A browser can read both.
    t.equal(res.headers.get('access-control-allow-origin'), '*');
    t.match(res.headers.get('access-control-expose-headers') ?? '', /Location.*Upload-Offset/);
    const url = new URL(location as string, app.url).href;
    const state = await head(url);
    t.equal(state.headers.get('upload-offset'), '5', 'HEAD: complete');
    t.equal(state.headers.get('upload-length'), '5');
    await until(() => receiver.of('post-finish').some((h) => h.body.Event.Upload.ID === idOf(url)), 'post-finish of the upload');
    t.equal(receiver.of('post-create').length, 1, 'one upload');
    // The request log names the upload the 502 created.
    await until(() => logLines().some((l) => l.uploadId === idOf(url) && l.status === 502), 'the request log line');

    // An empty upload finishes at its creation: the same answer, offset 0.
    const empty = await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '0' } });
    t.equal(empty.status, 502);
    t.ok(empty.headers.get('location'));
    t.equal(empty.headers.get('upload-offset'), '0');
    t.equal((await head(new URL(empty.headers.get('location') as string, app.url).href)).status, 200);

    // A PATCH that completes an upload knows its URL: the 502 says the offset, and sends no Location.
    const later = await createUpload(app.url, 2);
    const last = await patch(later, 0, Buffer.from('ab'));
    t.equal(last.status, 502);
    t.equal(last.headers.get('upload-offset'), '2');
    t.equal(last.headers.get('location'), null);
    t.match(await last.text(), /answered 503; every byte is stored and the upload is complete\. Retry later\.\n$/);
  });
}

t.test('the IETF draft: the failed creation keeps Location and Upload-Offset; HEAD says complete', async (t) => {
  const { receiver, app } = await setup(t, 'pre-finish');
  receiver.respond = (hook) =>
    hook.type === 'pre-finish' ? { body: '{"HTTPResponse":{"StatusCode":200},"httpResponse":{"StatusCode":201}}' } : {};
  const res = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...V6, 'Upload-Complete': '?1', 'Content-Type': 'application/octet-stream' },
    body: 'draft',
  });
  const body = await res.text();
  t.equal(res.status, 502, body);
  t.match(
    body,
    /gave an invalid answer \(HTTPResponse\.StatusCode is given more than once with different values .*\); every byte is stored/,
  );
  t.equal(res.headers.get('upload-draft-interop-version'), '6');
  t.equal(res.headers.get('tus-resumable'), null, 'the draft’s terms');
  t.equal(res.headers.get('upload-offset'), '5');
  const location = res.headers.get('location');
  t.ok(location);
  const state = await fetch(new URL(location as string, app.url), { method: 'HEAD', headers: V6 });
  t.equal(state.headers.get('upload-offset'), '5');
  t.equal(state.headers.get('upload-complete'), '?1');
});

t.test('concatenation: a final upload whose pre-finish fails is answered with its Location and length', async (t) => {
  const { receiver, app } = await setup(t, 'pre-finish');
  const parts: string[] = [];
  for (const text of ['ab', 'cde']) {
    const url = await createUpload(app.url, text.length, { 'Upload-Concat': 'partial' });
    t.equal((await patch(url, 0, Buffer.from(text))).status, 204);
    parts.push(url);
  }
  receiver.respond = (hook) => (hook.type === 'pre-finish' && hook.body.Event.Upload.IsFinal ? { status: 500 } : {});
  const res = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Concat': `final;${parts.map((p) => new URL(p).pathname).join(' ')}` },
  });
  const body = await res.text();
  t.equal(res.status, 502, body);
  const location = res.headers.get('location');
  t.ok(location);
  t.equal(res.headers.get('upload-offset'), '5');
  t.match(body, /answered 500; every byte is stored and the upload is complete: it exists at .* Do not send the POST again/);
  const state = await head(new URL(location as string, app.url).href);
  t.equal(state.headers.get('upload-offset'), '5');
  t.match(state.headers.get('upload-concat') ?? '', /^final;/);
});

t.test('tus-js-client: what it does with a failed pre-finish, and how an app avoids a second upload', async (t) => {
  const { receiver, app } = await setup(t, 'pre-finish,post-create');
  receiver.respond = (hook) => (hook.type === 'pre-finish' ? { status: 503 } : {});
  const data = randomBytes(1000);
  const run = (options: tus.UploadOptions, file = data) =>
    new Promise<{ upload: tus.Upload; error?: tus.DetailedError }>((resolve) => {
      const upload = new tus.Upload(file, {
        ...options,
        onSuccess: () => resolve({ upload }),
        onError: (error) => resolve({ upload, error: error as tus.DetailedError }),
      });
      upload.start();
    });
  const creations = () => receiver.of('post-create').length;

  // Its default: POST, then PATCH. The PATCH gets the 502; the retry HEADs, finds the upload complete, succeeds.
  const plain = await run({ endpoint: `${app.url}/files/`, retryDelays: [0, 100] });
  t.notOk(plain.error, 'success after the retry');
  await until(() => creations() === 1, 'post-create');
  t.equal((await head(plain.upload.url as string)).headers.get('upload-offset'), '1000');

  // uploadDataDuringCreation: the POST gets the 502, which tus-js-client retries with a new POST.
  const before = creations();
  const retried = await run({ endpoint: `${app.url}/files/`, uploadDataDuringCreation: true, retryDelays: [0] });
  t.ok(retried.error, 'the retry fails too');
  await until(() => creations() === before + 2, 'two post-creates');
  t.equal(creations(), before + 2, 'its retry created a second upload');
  // An empty file is finished by its POST: the same.
  const empty = await run({ endpoint: `${app.url}/files/`, retryDelays: [0] }, Buffer.alloc(0));
  t.ok(empty.error);
  await until(() => creations() === before + 4, 'two more post-creates');

  // The app's way out, the code of docs/hooks.md as written: no retry of an answer with a Location, then resume from it.
  const code = /<!-- hooks:tus-js-client -->\n```js\n([\s\S]*?)```/.exec(
    readFileSync(new URL('../../docs/hooks.md', import.meta.url), 'utf8'),
  )?.[1];
  if (!code) throw new Error('docs/hooks.md has no hooks:tus-js-client block');
  const again = creations();
  const asked = receiver.of('pre-finish').length;
  await new Promise<void>((resolve, reject) => {
    new Function('tus', 'file', 'endpoint', 'onSuccess', 'onError', code)(tus, data, `${app.url}/files/`, resolve, reject);
  });
  t.equal(creations(), again + 1, 'one upload');
  t.equal(receiver.of('pre-finish').length, asked + 1, 'pre-finish asked once: the resume only HEADs');
});

t.test('a decision in any spelling counts; different values in two spellings fail the hook, closed', async (t) => {
  const { receiver, app } = await setup(t, 'pre-create,post-create,post-receive,pre-terminate');
  const create = () => fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '3' } });
  const answer = (type: string, body: string) => {
    receiver.respond = (hook) => (hook.type === type ? { body } : {});
  };

  t.test('pre-create', async (t) => {
    answer('pre-create', '{"RejectUpload":null,"REJECTUPLOAD":true}');
    const rejected = await create();
    t.equal(rejected.status, 400);
    t.match(await rejected.text(), /^ERR_UPLOAD_REJECTED/);
    for (const body of [
      '{"RejectUpload":false,"rejectUpload":true}',
      '{"rejectUpload":true,"RejectUpload":false}',
      '{"RejectUpload":true,"RejectUpload":false}',
    ]) {
      answer('pre-create', body);
      const res = await create();
      t.equal(res.status, 502, body);
      t.match(
        await res.text(),
        /^The pre-create hook receiver \(HOOKS_HTTP_URL\) gave an invalid answer \(RejectUpload is given more than once with different values \(as "[A-Za-z]+"(, "[A-Za-z]+")?\)\); nothing was created\n$/,
        body,
      );
    }
    answer('pre-create', '{"HTTPResponse":{"Header":{"X-Project":"1","x-project":"2"}}}');
    t.equal((await create()).status, 502, 'a header given twice with different values');
    t.equal(receiver.of('post-create').length, 0, 'nothing was created');
    // The log says which field conflicted.
    await until(
      () =>
        logLines().some((l) => l.msg === 'pre-create hook failed' && String(l.reason).startsWith('RejectUpload is given more than once')),
      'the log line naming RejectUpload',
    );
    t.ok(logLines().some((l) => l.msg === 'pre-create hook failed' && String(l.reason).startsWith('HTTPResponse.Header["X-Project"]')));
  });

  t.test('pre-terminate', async (t) => {
    receiver.respond = () => ({});
    const url = await createUpload(app.url, 3);
    answer('pre-terminate', '{"RejectTermination":false,"rejectTermination":true}');
    const res = await fetch(url, { method: 'DELETE', headers: TUS });
    t.equal(res.status, 502);
    t.match(await res.text(), /RejectTermination is given more than once .*; nothing was terminated/);
    answer('pre-terminate', '{"rejecttermination":true,"RejectTermination":null}');
    t.equal((await fetch(url, { method: 'DELETE', headers: TUS })).status, 400, 'rejected');
    t.equal((await head(url)).status, 200, 'the upload is kept');
  });

  t.test('post-receive: StopUpload in any spelling stops the upload, even in an answer that is otherwise invalid', async (t) => {
    for (const body of ['{"StopUpload":false,"stopUpload":true}', '{"StopUpload":null,"STOPUPLOAD":true}']) {
      receiver.respond = () => ({});
      const url = await createUpload(app.url, 100_000);
      answer('post-receive', body);
      const res = await drippedPatch(url, 1000, 100, 20);
      if (res.error) t.comment(`the answer was lost to the connection's reset (${res.error.message}); read from the log`);
      else t.match(res.body, /^ERR_UPLOAD_STOPPED/);
      await until(() => logLines().some((l) => l.method === 'PATCH' && l.uploadId === idOf(url)), 'the PATCH’s log line');
      const logged = logLines().find((l) => l.method === 'PATCH' && l.uploadId === idOf(url));
      t.equal(res.status || logged?.status, 400, body);
      t.equal(logged?.status, 400, 'logged');
      t.ok(res.sent < 100, `stopped mid-body (${res.sent} of 100 chunks)`);
      t.equal((await head(url)).status, 404, 'removed');
    }
  });
});
