/**
 * STORAGE_<LOC>_KEY_TEMPLATE over real HTTP, with authentication and hooks on, on every driver:
 * the object lands at the templated key (checked by listing the bucket, the container or the directory), the
 * upload stays at /files/<id> (resume, HEAD, download), hooks report the key, termination
 * removes the object there, a pre-create hook's id lands in the key, concatenation keeps it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { type JWTPayload, SignJWT } from 'jose';
import t, { type Test } from 'tap';
import { b64, head, patch, type RunningApp, startApp, TUS } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, listBlobs, verifyContainer } from '../helpers/azure.js';
import { HookReceiver } from '../helpers/hook-receiver.js';
import { idOf } from '../helpers/ids.js';
import { listKeys, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { until } from '../helpers/wait.js';

const SECRET = randomBytes(32).toString('hex');
const HOOK_SECRET = 'tus-hook-test-secret-key-template';
const TEMPLATE = 'uploads/{subject}/{year}/{month}/{id}/{metadata.filename}';
const server = s3TestServer();
const s3 = verifyClient(server);

const token = (payload: JWTPayload) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));

interface Setup {
  app: RunningApp;
  receiver: HookReceiver;
  auth: Record<string, string>;
  /** Every stored name under the location's root: object keys (s3) or file paths relative to it (local). */
  stored(): Promise<string[]>;
  /** What hooks report as Storage for a key relative to the root. */
  storage(key: string): Record<string, string>;
}

const STORAGE_ENV = {
  local: () => ({ STORAGE_LOCAL_KEY_TEMPLATE: TEMPLATE }),
  s3: (root: string) => s3LocationEnv(server, root, { STORAGE_S3_KEY_TEMPLATE: TEMPLATE }),
  azure: (root: string) => azureLocationEnv(azureTestServer(), root, { STORAGE_AZURE_KEY_TEMPLATE: TEMPLATE }),
};

async function setup(t: Test, driver: 'local' | 's3' | 'azure', extra: Record<string, string> = {}): Promise<Setup> {
  const root = uniqueRoot('keys');
  const receiver = await HookReceiver.start(HOOK_SECRET);
  const storageEnv = STORAGE_ENV[driver](root);
  const app = await startApp({
    ...storageEnv,
    AUTH_JWT_SECRET: SECRET,
    HOOKS_HTTP_URL: receiver.url,
    HOOKS_HTTP_SECRET: HOOK_SECRET,
    HOOKS_ENABLED_EVENTS: 'pre-create,post-create,post-finish,post-terminate',
    ...extra,
  });
  t.teardown(async () => {
    await app.close();
    await receiver.close();
  });
  const auth = { Authorization: `Bearer ${await token({ sub: 'alice' })}` };
  if (driver === 'azure') {
    const blobs = verifyContainer(azureTestServer());
    return {
      app,
      receiver,
      auth,
      // Uncommitted blobs (staged blocks only) included.
      stored: async () => (await listBlobs(blobs, root)).map((k) => k.slice(root.length)),
      storage: (key) => ({ Type: 'azurestore', Container: azureTestServer().container, Key: `${root}${key}` }),
    };
  }
  if (driver === 's3') {
    return {
      app,
      receiver,
      auth,
      stored: async () => (await listKeys(s3, server.bucket, root)).map((k) => k.slice(root.length)),
      storage: (key) => ({ Type: 's3store', Bucket: server.bucket, Key: `${root}${key}` }),
    };
  }
  return {
    app,
    receiver,
    auth,
    stored: async () =>
      readdirSync(app.root, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => join(e.parentPath, e.name).slice(app.root.length + 1)),
    storage: (key) => ({ Type: 'filestore', Path: join(app.root, key) }),
  };
}

/** The templated key's date part: this month, or the next one when the test runs across a month's end. */
function months(before: Date): string[] {
  const at = (d: Date) => `${d.getUTCFullYear()}/${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
  return [...new Set([at(before), at(new Date())])];
}

async function create(s: Setup, length: number, filename: string, body?: Buffer): Promise<{ url: string; id: string; res: Response }> {
  const res = await fetch(`${s.app.url}/files/`, {
    method: 'POST',
    headers: {
      ...TUS,
      ...s.auth,
      'Upload-Length': String(length),
      'Upload-Metadata': `filename ${b64(filename)}`,
      ...(body ? { 'Content-Type': 'application/offset+octet-stream' } : {}),
    },
    ...(body ? { body: body as unknown as BodyInit } : {}),
  });
  const url = new URL(res.headers.get('location') ?? '', s.app.url).toString();
  return { url, id: idOf(url), res };
}

const storageOf = (s: Setup, type: string, id: string) =>
  s.receiver.of(type).find((h) => h.body.Event.Upload.ID === id)?.body.Event.Upload.Storage as Record<string, string> | undefined;

for (const driver of ['local', 's3', 'azure'] as const) {
  t.test(
    `${driver}: the object at the templated key; the upload at /files/<id>; hooks report the key; termination removes it`,
    async (t) => {
      const s = await setup(t, driver);
      // Past 5 MiB: on S3 a multipart upload at the key, completed there (the first request leaves a part and a tail).
      const bytes = randomBytes(7 * 1024 * 1024);
      const first = 5 * 1024 * 1024 + 40_000;
      const before = new Date();
      const { url, id, res } = await create(s, bytes.length, 'Fotó ../a b.txt');
      t.equal(res.status, 201);
      t.equal(new URL(url).pathname, `/files/${id}`, 'the upload URL is by id');
      const keys = months(before).map((m) => `uploads/alice/${m}/${id}/Fot\u00f3%20..%2Fa%20b.txt`);
      // Sent in two requests, resumed from the server's offset in between.
      t.equal((await patch(url, 0, bytes.subarray(0, first), s.auth)).status, 204);
      const offset = await fetch(url, { method: 'HEAD', headers: { ...TUS, ...s.auth } });
      t.equal(offset.headers.get('upload-offset'), String(first), 'HEAD by id');
      t.equal((await patch(url, first, bytes.subarray(first), s.auth)).status, 204);

      const stored = await s.stored();
      const key = keys.find((k) => stored.includes(k));
      t.ok(key, `listed at ${keys.join(' or ')}: ${stored.join(', ')}`);
      t.notOk(stored.includes(id), 'nothing at <root><id>');
      if (driver !== 'local') t.ok(stored.includes(`${id}.info`), 'the state stays by id');
      else t.ok(stored.includes(`${id}.json`), 'the state stays by id');

      const download = await fetch(url, { headers: s.auth });
      t.equal(download.status, 200);
      t.ok(Buffer.from(await download.arrayBuffer()).equals(bytes), 'the download by id returns the bytes');

      await until(() => storageOf(s, 'post-finish', id) !== undefined, 'post-finish');
      const expected = s.storage(key ?? '');
      t.match(storageOf(s, 'post-create', id), expected, 'post-create reports the key');
      t.match(storageOf(s, 'post-finish', id), expected, 'post-finish reports the key');

      const deleted = await fetch(url, { method: 'DELETE', headers: { ...TUS, ...s.auth } });
      t.equal(deleted.status, 204);
      const after = await s.stored();
      t.notOk(after.includes(key ?? ''), 'termination removed the object at its key');
      t.notOk(
        after.some((k) => k.includes(id)),
        'and everything of the upload',
      );
      await until(() => storageOf(s, 'post-terminate', id) !== undefined, 'post-terminate');
      t.match(storageOf(s, 'post-terminate', id), expected, 'post-terminate reports the key');
      t.equal((await fetch(url, { headers: s.auth })).status, 404);
    },
  );

  t.test(`${driver}: a small file sent whole with its creation, and a pre-create hook's id, land at their keys`, async (t) => {
    const s = await setup(t, driver);
    const chosen = `chosen-${randomBytes(6).toString('hex')}`;
    s.receiver.respond = (hook) =>
      hook.type === 'pre-create' && hook.body.Event.Upload.MetaData.filename === 'hooked.txt'
        ? { body: { ChangeFileInfo: { ID: chosen } } }
        : {};
    const before = new Date();
    const small = await create(s, 5, 'small.txt', Buffer.from('hello'));
    t.equal(small.res.status, 201);
    const hooked = await create(s, 3, 'hooked.txt', Buffer.from('abc'));
    t.equal(hooked.id, chosen, 'the hook chose the id');
    const stored = await s.stored();
    for (const [id, name] of [
      [small.id, 'small.txt'],
      [chosen, 'hooked.txt'],
    ] as const) {
      const keys = months(before).map((m) => `uploads/alice/${m}/${id}/${name}`);
      t.ok(
        keys.some((k) => stored.includes(k)),
        `${name} at ${keys[0]}`,
      );
      // The state is found by id: HEAD reads it from storage (not from a cache).
      const state = await fetch(`${s.app.url}/files/${id}`, { method: 'HEAD', headers: { ...TUS, ...s.auth } });
      t.equal(state.headers.get('upload-offset'), name === 'small.txt' ? '5' : '3');
    }
    t.equal(await (await fetch(small.url, { headers: s.auth })).text(), 'hello');
    // The hook's id again: refused, the upload that has it untouched.
    const again = await create(s, 3, 'hooked.txt', Buffer.from('xyz'));
    t.equal(again.res.status, 502, 'an id in use is refused');
    t.equal(await (await fetch(hooked.url, { headers: s.auth })).text(), 'abc');
  });

  t.test(`${driver}: a final upload of a concatenation at its own key`, async (t) => {
    const s = await setup(t, driver);
    const before = new Date();
    const partial = async (text: string | Buffer, filename?: string) => {
      const res = await fetch(`${s.app.url}/files/`, {
        method: 'POST',
        headers: {
          ...TUS,
          ...s.auth,
          'Upload-Length': String(text.length),
          'Upload-Concat': 'partial',
          ...(filename ? { 'Upload-Metadata': `filename ${b64(filename)}` } : {}),
        },
      });
      const url = new URL(res.headers.get('location') ?? '', s.app.url).toString();
      t.equal((await patch(url, 0, Buffer.from(text), s.auth)).status, 204);
      return url;
    };
    // 5 MiB: on S3 copied with UploadPartCopy from its key, whose %, spaces and letters the copy source must carry.
    const big = randomBytes(5 * 1024 * 1024);
    const copied = await partial(big, 'part 1é%.bin');
    t.ok(
      (await s.stored()).some((k) => k.endsWith(`/${idOf(copied)}/part%201é%25.bin`)),
      'the large partial at its key',
    );
    const copy = await fetch(`${s.app.url}/files/`, {
      method: 'POST',
      headers: { ...TUS, ...s.auth, 'Upload-Concat': `final;${copied} ${await partial('!')}` },
    });
    t.equal(copy.status, 201);
    const copyUrl = new URL(copy.headers.get('location') ?? '', s.app.url).toString();
    t.ok(Buffer.from(await (await fetch(copyUrl, { headers: s.auth })).arrayBuffer()).equals(Buffer.concat([big, Buffer.from('!')])));
    const [a, b] = [await partial('ab'), await partial('cd')];
    const final = await fetch(`${s.app.url}/files/`, {
      method: 'POST',
      headers: { ...TUS, ...s.auth, 'Upload-Concat': `final;${a} ${b}`, 'Upload-Metadata': `filename ${b64('whole.txt')}` },
    });
    t.equal(final.status, 201);
    const id = idOf(new URL(final.headers.get('location') ?? '', s.app.url).toString());
    const stored = await s.stored();
    t.ok(
      months(before).some((m) => stored.includes(`uploads/alice/${m}/${id}/whole.txt`)),
      `the final upload at its key: ${stored.join(', ')}`,
    );
    t.ok(
      months(before).some((m) => stored.includes(`uploads/alice/${m}/${idOf(a)}/_`)),
      'a partial without filename: "_"',
    );
    t.equal(await (await fetch(`${s.app.url}/files/${id}`, { headers: s.auth })).text(), 'abcd');

    // A final created while a partial still receives keeps the key it got then (with its subject),
    // though the partial's PATCH assembles it later.
    const c = await partial('ab');
    const open = await fetch(`${s.app.url}/files/`, {
      method: 'POST',
      headers: { ...TUS, ...s.auth, 'Upload-Length': '2', 'Upload-Concat': 'partial' },
    });
    const later = new URL(open.headers.get('location') ?? '', s.app.url).toString();
    const waiting = await fetch(`${s.app.url}/files/`, {
      method: 'POST',
      headers: { ...TUS, ...s.auth, 'Upload-Concat': `final;${c} ${later}`, 'Upload-Metadata': `filename ${b64('later.txt')}` },
    });
    t.equal(waiting.status, 201);
    const waitingId = idOf(new URL(waiting.headers.get('location') ?? '', s.app.url).toString());
    t.equal((await patch(later, 0, Buffer.from('ef'), s.auth)).status, 204);
    const assembled = await s.stored();
    t.ok(
      months(before).some((m) => assembled.includes(`uploads/alice/${m}/${waitingId}/later.txt`)),
      `the waiting final at the key of its creation: ${assembled.join(', ')}`,
    );
    t.equal(await (await fetch(`${s.app.url}/files/${waitingId}`, { headers: s.auth })).text(), 'abef');
  });
}

for (const driver of ['local', 's3', 'azure'] as const) {
  t.test(`${driver}: expiry removes an unfinished upload at its key and keeps a finished one`, async (t) => {
    const s = await setup(t, driver, { TUS_UPLOAD_EXPIRATION: '1s', TUS_CLEANUP_SCHEDULE: '* * * * * *' });
    const done = await create(s, 2, 'done.txt', Buffer.from('ok'));
    // On S3, 5 MiB make a part of a multipart upload at the key; on local, a file at the key.
    const length = 6 * 1024 * 1024;
    const { url, id } = await create(s, length, 'big.bin');
    t.equal((await patch(url, 0, randomBytes(5 * 1024 * 1024), s.auth)).status, 204);
    const key = (await s.stored()).find((k) => k.endsWith(`/${id}/big.bin`) || k === `${id}.info`);
    t.ok(key, 'the unfinished upload is stored');
    if (driver === 's3')
      t.ok(
        (await multipartKeys()).some((k) => k.endsWith(`/${id}/big.bin`)),
        'its multipart upload is at its key',
      );
    await until(async () => !(await s.stored()).some((k) => k.includes(id)), 'the unfinished upload to expire', 15_000, 250);
    if (driver === 's3')
      t.notOk(
        (await multipartKeys()).some((k) => k.includes(id)),
        'its multipart upload at its key was aborted',
      );
    t.ok(
      (await s.stored()).some((k) => k.endsWith(`/${done.id}/done.txt`)),
      'the finished upload stays',
    );
    t.equal(await (await fetch(done.url, { headers: s.auth })).text(), 'ok');
  });
}

t.test('a template changed (or removed) between two runs moves nothing: an upload stays at the key of its creation', async (t) => {
  const root = uniqueRoot('keys-change');
  const local = mkdtempSync(join(tmpdir(), 'tus-keys-change-'));
  t.teardown(() => rmSync(local, { recursive: true, force: true }));
  for (const [driver, env] of [
    ['local', (template?: string) => ({ STORAGE_LOCAL_ROOT: local, ...(template ? { STORAGE_LOCAL_KEY_TEMPLATE: template } : {}) })],
    ['s3', (template?: string) => s3LocationEnv(server, root, template ? { STORAGE_S3_KEY_TEMPLATE: template } : {})],
  ] as const) {
    const first = await startApp(env('first/{id}'));
    const created = await fetch(`${first.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '4' } });
    const path = new URL(created.headers.get('location') ?? '', first.url).pathname;
    t.equal((await patch(`${first.url}${path}`, 0, Buffer.from('ab'))).status, 204);
    await first.close();
    const second = await startApp(env());
    t.teardown(() => second.close());
    t.equal((await patch(`${second.url}${path}`, 2, Buffer.from('cd'))).status, 204, `${driver}: resumed without the template`);
    t.equal(await (await fetch(`${second.url}${path}`)).text(), 'abcd');
    const id = path.split('/').pop() as string;
    const stored =
      driver === 's3' ? (await listKeys(s3, server.bucket, root)).map((k) => k.slice(root.length)) : readdirSync(join(local, 'first'));
    t.ok(stored.includes(driver === 's3' ? `first/${id}` : id), `${driver}: at the key of its creation`);
  }
});

async function multipartKeys(): Promise<string[]> {
  const listed = await s3.send(new ListMultipartUploadsCommand({ Bucket: server.bucket }));
  return (listed.Uploads ?? []).map((u) => u.Key ?? '');
}

t.test('local, authentication off: {subject} is "anonymous"', async (t) => {
  const app = await startApp({ STORAGE_LOCAL_KEY_TEMPLATE: '{subject}/{id}' });
  t.teardown(() => app.close());
  const res = await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '1' } });
  const url = new URL(res.headers.get('location') ?? '', app.url).toString();
  t.equal((await patch(url, 0, Buffer.from('x'))).status, 204);
  t.same(readdirSync(join(app.root, 'anonymous')), [idOf(url)]);
  t.equal((await head(url)).headers.get('upload-offset'), '1');
});
