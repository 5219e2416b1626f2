/** The real server with an azure location: a tus upload with raw requests and with tus-js-client, checked in Azurite. */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import * as tus from 'tus-js-client';
import { b64, createUpload, head, patch, startAppFor, TUS } from '../helpers/app.js';
import {
  azureLocationEnv,
  azureTestServer,
  blobProperties,
  blobSha256,
  blocksOf,
  listBlobs,
  storedBlobs,
  verifyContainer,
} from '../helpers/azure.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { cutPatch, settledOffset } from '../helpers/cut-request.js';
import { HookReceiver } from '../helpers/hook-receiver.js';
import { MiB } from '../helpers/sizes.js';
import { metric, until } from '../helpers/wait.js';

const server = azureTestServer();
const verify = verifyContainer(server);
const rootFor = (name: string) => `t-${name}-${randomBytes(4).toString('hex')}/`;
const idOf = (url: string) => url.split('/').pop() as string;

function upload(data: Buffer, options: Partial<tus.UploadOptions>): Promise<tus.Upload> {
  return new Promise((resolve, reject) => {
    const u = new tus.Upload(data, { retryDelays: [0, 300], ...options, onSuccess: () => resolve(u), onError: reject });
    u.start();
  });
}

t.test('raw tus requests: create, PATCH in pieces, a cut PATCH resumed, HEAD, ranged GET, DELETE', async (t) => {
  const root = rootFor('az-raw');
  const app = await startAppFor(t, azureLocationEnv(server, root, { STORAGE_AZURE_TUS__CHUNK_SIZE: '1mb' }));
  const data = randomData(5 * MiB + 321);
  const url = await createUpload(app.url, data.length, {
    'Upload-Metadata': `filename ${b64('report.pdf')},filetype ${b64('application/pdf')}`,
  });
  const id = idOf(url);
  t.equal((await patch(url, 0, data.subarray(0, MiB + 1))).status, 204);

  // A PATCH whose connection dies after 2 MiB + 3 more bytes: every byte that arrived is kept.
  const cut = MiB + 1 + 2 * MiB + 3;
  await cutPatch(url, MiB + 1, data.subarray(MiB + 1), cut - (MiB + 1));
  t.equal(await settledOffset(url, cut), cut, 'HEAD answers every byte that arrived before the cut');
  t.ok((await listBlobs(verify, root)).includes(`${root}${id}.part`), 'the rest of a block waits in the tail blob');

  const last = await patch(url, cut, data.subarray(cut));
  t.equal(last.status, 204);
  t.equal(last.headers.get('upload-offset'), String(data.length));
  t.equal((await blobSha256(verify, `${root}${id}`)).sha256, sha256(data), 'the committed blob is the data');
  const props = await blobProperties(verify, `${root}${id}`);
  t.equal(props.contentType, 'application/pdf');
  t.match(props.contentDisposition, /^attachment; filename="?report\.pdf"?/, 'a PDF is served as an attachment');
  t.same(await storedBlobs(verify, root), [`${root}${id}`, `${root}${id}.info`], 'no tail left');

  const calls = (operation: string) =>
    metric(app.url, `tus_s3_request_duration_seconds_count{location="azure",operation="${operation}",result="ok"}`);
  t.ok((await calls('PutBlock')) >= 5, 'Azure calls are timed in the metrics, by operation');
  t.equal(await calls('PutBlockList'), 1, 'one commit');

  const h = await head(url);
  t.equal(h.headers.get('upload-offset'), String(data.length));
  const ranged = await fetch(url, { headers: { ...TUS, Range: 'bytes=1048570-1048589' } });
  t.equal(ranged.status, 206);
  t.same(Buffer.from(await ranged.arrayBuffer()), data.subarray(1048570, 1048590));

  const doomed = await createUpload(app.url, 4 * MiB);
  t.equal((await patch(doomed, 0, randomData(MiB + 9))).status, 204);
  t.equal((await blocksOf(verify, `${root}${idOf(doomed)}`)).uncommitted, 1);
  t.equal((await fetch(doomed, { method: 'DELETE', headers: TUS })).status, 204);
  t.notOk(
    (await listBlobs(verify, root)).some((name) => name.startsWith(`${root}${idOf(doomed)}`)),
    'DELETE leaves no blob',
  );
  t.same(await blocksOf(verify, `${root}${idOf(doomed)}`), { committed: 0, uncommitted: 0 }, 'and no staged block');
  t.equal((await head(doomed)).status, 404);
});

t.test('tus-js-client: chunked, creation-with-upload, deferred length, parallel uploads (concatenation)', async (t) => {
  const root = rootFor('az-client');
  const app = await startAppFor(t, azureLocationEnv(server, root));
  const endpoint = `${app.url}/files/`;
  const data = randomData(13 * MiB + 3);
  const expected = sha256(data);
  const modes: Array<[string, Partial<tus.UploadOptions>]> = [
    ['chunked', { chunkSize: 5 * MiB, metadata: { filename: 'a.txt', filetype: 'text/plain' } }],
    ['creation-with-upload', { uploadDataDuringCreation: true, chunkSize: 8 * MiB }],
    ['deferred length', { uploadLengthDeferred: true, chunkSize: 6 * MiB }],
    ['parallelUploads: 4', { parallelUploads: 4 }],
  ];
  for (const [mode, options] of modes) {
    const u = await upload(data, { endpoint, ...options });
    const id = idOf(u.url as string);
    t.equal((await blobSha256(verify, `${root}${id}`)).sha256, expected, `${mode}: the blob in Azurite`);
    t.equal(sha256(Buffer.from(await (await fetch(u.url as string)).arrayBuffer())), expected, `${mode}: the download`);
  }
  t.equal(
    (
      await blobProperties(
        verify,
        `${root}${idOf((await upload(Buffer.from('hi'), { endpoint, metadata: { filetype: 'text/plain' } })).url as string)}`,
      )
    ).contentType,
    'text/plain',
  );
});

t.test(
  "hooks on an azure location: Storage as tusd's azurestore reports it, the outbox kept in the container until delivered",
  async (t) => {
    const root = rootFor('az-hooks');
    // A literal, so that test/after/secrets.after.ts looks for it in the logs.
    const secrets = { HOOKS_HTTP_SECRET: 'tus-hook-azure-secret-52c9e1' };
    const receiver = await HookReceiver.start(secrets.HOOKS_HTTP_SECRET);
    t.teardown(() => receiver.close());
    let failures = 0;
    // The first delivery fails: the record waits in the container's outbox.
    receiver.respond = (hook) => (hook.type === 'post-finish' && failures++ < 1 ? { status: 500 } : {});
    const app = await startAppFor(
      t,
      azureLocationEnv(server, root, {
        HOOKS_HTTP_URL: receiver.url,
        ...secrets,
        HOOKS_RETRY_DELAY: '300',
        HOOKS_RETRY_MAX_DELAY: '300',
      }),
    );
    const url = await createUpload(app.url, 3);
    t.equal((await patch(url, 0, Buffer.from('abc'))).status, 204);
    const outbox = async () => (await listBlobs(verify, `${root}.tus-hooks/`)).length;
    await until(() => receiver.of('post-finish').length >= 1, 'the first attempt');
    t.equal(await outbox(), 1, 'the undelivered record is a blob under <root>.tus-hooks/');
    await until(() => receiver.of('post-finish').length === 2, 'the retry');
    await until(async () => (await outbox()) === 0, 'the outbox emptied once delivered');
    t.same(receiver.of('post-finish')[1]?.body.Event.Upload.Storage, {
      Type: 'azurestore',
      Container: server.container,
      Key: `${root}${idOf(url)}`,
    });
  },
);
