/**
 * At-least-once delivery of post-finish across a crash, on every driver (local, S3, Azure): the server (its own
 * process) finishes an upload while the hook receiver is down, is killed with SIGKILL, and
 * delivers the hook after its restart, with the same idempotency key and body. The outbox
 * beside the uploads is never taken for uploads by expiry.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Upload } from '@tus/utils';
import t, { type Test } from 'tap';
import { parseConfig } from '../../src/config/index.js';
import { isRecordKeeper } from '../../src/stores/capabilities.js';
import { createStore } from '../../src/stores/index.js';
import { createUpload, patch } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, listBlobs, verifyContainer } from '../helpers/azure.js';
import { HookReceiver } from '../helpers/hook-receiver.js';
import { freePort, startProcess } from '../helpers/process.js';
import { listKeys, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { scratchDir } from '../helpers/scratch.js';
import { metric, until } from '../helpers/wait.js';

const SECRETS = { HOOKS_HTTP_SECRET: 'tus-hook-durable-secret-3e8b51' } as const;
const server = s3TestServer();
const s3 = verifyClient(server);

/** The outbox records of a location: [name, text]. */
async function outbox(storage: Record<string, string>): Promise<Array<[string, string]>> {
  const azureRoot = storage.STORAGE_AZURE_ROOT;
  if (azureRoot !== undefined) {
    const container = verifyContainer(azureTestServer());
    const names = await listBlobs(container, `${azureRoot}.tus-hooks/`);
    return Promise.all(
      names.map(async (name): Promise<[string, string]> => [name, (await container.getBlobClient(name).downloadToBuffer()).toString()]),
    );
  }
  const root = storage.STORAGE_S3_ROOT;
  if (root !== undefined) {
    const keys = await listKeys(s3, server.bucket, `${root}.tus-hooks/`);
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    return Promise.all(
      keys.map(async (key): Promise<[string, string]> => {
        const res = await s3.send(new GetObjectCommand({ Bucket: server.bucket, Key: key }));
        return [key, (await res.Body?.transformToString()) ?? ''];
      }),
    );
  }
  const dir = join(storage.STORAGE_LOCAL_ROOT as string, '.tus-hooks');
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return names.map((name) => [name, readFileSync(join(dir, name), 'utf8')]);
}

/** Names of the outbox records (a listing only: the S3 server may still list a key just deleted). */
async function outboxNames(storage: Record<string, string>): Promise<string[]> {
  const azureRoot = storage.STORAGE_AZURE_ROOT;
  if (azureRoot !== undefined) return listBlobs(verifyContainer(azureTestServer()), `${azureRoot}.tus-hooks/`);
  const root = storage.STORAGE_S3_ROOT;
  if (root !== undefined) return listKeys(s3, server.bucket, `${root}.tus-hooks/`);
  try {
    return readdirSync(join(storage.STORAGE_LOCAL_ROOT as string, '.tus-hooks')).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
}

/** Each driver's storage for test `t` (a local directory is removed when `t` ends, after the processes it started stopped). */
const drivers: Array<[string, (t: Test) => Record<string, string>]> = [
  ['local', (t) => ({ STORAGE_LOCAL_ROOT: scratchDir(t, 'tus-hooks-kill-') })],
  ['s3', () => s3LocationEnv(server, uniqueRoot('hooks-kill'))],
  ['azure', () => azureLocationEnv(azureTestServer(), uniqueRoot('hooks-kill'))],
];

for (const [driver, makeStorage] of drivers) {
  t.test(`${driver}: post-finish survives SIGKILL and is delivered after the restart`, async (t) => {
    const storage = makeStorage(t);
    const port = await freePort(); // the receiver is down: nothing listens here yet
    const env = {
      ...storage,
      HOOKS_HTTP_URL: `http://127.0.0.1:${port}/hooks`,
      ...SECRETS,
      HOOKS_ENABLED_EVENTS: 'post-finish',
      HOOKS_RETRY_DELAY: '100',
      HOOKS_RETRY_MAX_DELAY: '300',
    };
    const first = await startProcess(env);
    t.teardown(() => first.stop('SIGKILL'));
    const url = await createUpload(first.url, 4);
    const id = url.split('/').pop() as string;
    t.equal((await patch(url, 0, Buffer.from('data'))).status, 204);
    // Stored before the answer went out.
    const records = await outbox(storage);
    t.equal(records.length, 1, 'one delivery in the outbox when the client has its answer');
    const record = JSON.parse((records[0] as [string, string])[1]);
    t.equal(record.event, 'post-finish');
    t.equal(record.uploadId, id);
    await until(
      async () => (await metric(first.url, 'tus_hook_deliveries_total{event="post-finish",result="failed"}')) >= 2,
      'two failed attempts',
    );
    t.equal(await metric(first.url, `tus_hook_deliveries_pending{location="${driver}"}`), 1, 'pending gauge');
    t.equal(await first.stop('SIGKILL'), null, 'killed');

    const receiver = await HookReceiver.start(SECRETS.HOOKS_HTTP_SECRET, port);
    t.teardown(() => receiver.close());
    const second = await startProcess(env);
    t.teardown(() => second.stop('SIGKILL'));
    await until(() => receiver.of('post-finish').length >= 1, 'post-finish delivered after the restart');
    const [hook] = receiver.of('post-finish');
    t.ok(hook?.signed, 'signed');
    t.equal(hook?.body.IdempotencyKey, record.key, 'the same idempotency key');
    t.equal(hook?.headers['idempotency-key'], record.key);
    t.equal(hook?.raw, record.body, 'the same body');
    t.match(hook?.body.Event.Upload, { ID: id, Size: 4, Offset: 4 });
    await until(async () => (await outboxNames(storage)).length === 0, 'outbox emptied');
    t.equal(await second.stop('SIGTERM'), 0);
    t.equal(receiver.of('post-finish').length, 1, 'delivered once');
  });

  t.test(`${driver}: expiry never takes the outbox for uploads`, async (t) => {
    const storage = makeStorage(t);
    const config = parseConfig({ ...storage, TUS_UPLOAD_EXPIRATION: '1' });
    const location = config.locations[0];
    if (!location) throw new Error('no location');
    const store = await createStore(location, { expiration: 1, maxUploadSize: 0 });
    if (!isRecordKeeper(store)) throw new Error('the store keeps no records');
    await store.putRecord('hooks', 'delivery-1', '{"key":"delivery-1"}');
    await store.create(
      new Upload({ id: 'expired-upload', size: 10, offset: 0, creation_date: new Date(Date.now() - 60_000).toISOString() }),
    );
    t.equal(await store.deleteExpired(), 1, 'only the expired upload removed');
    t.equal(await store.readRecord('hooks', 'delivery-1'), '{"key":"delivery-1"}', 'the record is untouched');
    t.same(await store.listRecords('hooks'), ['delivery-1']);
    await store.deleteRecord('hooks', 'delivery-1');
    t.same(await store.listRecords('hooks'), []);
    await store.deleteRecord('hooks', 'delivery-1');
    t.pass('deleting a record already gone is fine');
  });
}
