/**
 * The stores' exclusive create (src/stores/creation-intent.ts), below HTTP: an upload whose id
 * a pre-create hook chose is created only if no upload has the id. The S3 store writes its
 * `.info` first with PutObject If-None-Match: * where the endpoint honours it; the test asks the
 * endpoint itself (two conditional PutObjects of one key) and expects the store to find the
 * same. Honoured (AWS, MinIO, Ceph): the second creation is refused, the first upload intact.
 * Not honoured (Swift's s3api answers 501): a plain PutObject, and the creation still works.
 * The local store opens the file with `wx`: the second creation is refused.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Upload } from '@tus/utils';
import t from 'tap';
import { intend } from '../../src/stores/creation-intent.js';
import { LocalStore } from '../../src/stores/local/index.js';
import { honoursIfNoneMatch, listKeys, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { makeStore, recordCommands, s3Location, writeBody } from '../helpers/store.js';

const server = s3TestServer();
/** The store's refusal (UploadIdTaken). */
const TAKEN = { name: 'UploadIdTaken', status_code: 409 };
const verify = verifyClient(server);

const exclusive = (id: string, size: number, who: string) => {
  const upload = new Upload({ id, offset: 0, size, metadata: { who } });
  intend(upload, { exclusive: true });
  return upload;
};

t.test('S3: a second exclusive creation of an id is refused where the endpoint honours If-None-Match', async (t) => {
  const root = uniqueRoot('exclusive');
  const honours = await honoursIfNoneMatch(server, root);
  t.comment(`the endpoint ${honours ? 'honours' : 'does not honour'} PutObject If-None-Match: *`);
  const { store, client } = makeStore(s3Location(server, root));
  t.teardown(() => store.close());
  const commands = recordCommands(client);
  t.equal(await store.bucket.conditionalWrites(), honours, 'the store finds what the endpoint does');
  t.equal(await store.bucket.conditionalWrites(), honours, 'asked once');
  t.equal(commands.filter((c) => c.name === 'PutObject').length, honours ? 2 : 1, 'the probe ran once');

  const id = `chosen-${randomBytes(4).toString('hex')}`;
  await store.create(exclusive(id, 6, 'first'));
  const infoPut = commands.filter((c) => c.name === 'PutObject' && c.input.Key === `${root}${id}.info`);
  t.equal(infoPut.length, 1, '.info written once, before anything else of the upload');
  t.equal(
    infoPut[0]?.input.IfNoneMatch,
    honours ? '*' : undefined,
    honours ? 'conditionally' : 'plainly (the endpoint refuses conditions)',
  );
  t.equal(await writeBody(store, id, 0, Buffer.from('abc')), 3);

  if (honours) {
    await t.rejects(store.create(exclusive(id, 9, 'second')), TAKEN, 'the second creation is refused');
    await t.rejects(store.concatenate(id, [], { who: 'third' }, { exclusive: true }), TAKEN, 'so is a concatenation given the id');
    store.invalidate(id);
    const kept = await store.readUpload(id);
    t.same([kept.size, kept.offset, kept.metadata], [6, 3, { who: 'first' }], 'the first upload is as it was');
  }
  const keys = await listKeys(verify, server.bucket, root);
  t.same(keys, [`${root}${id}.info`, `${root}${id}.part`], "the upload's state and tail, no probe object left");
});

t.test('local: a second exclusive creation of an id is refused; the first upload keeps its bytes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tus-exclusive-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new LocalStore(dir, 0);
  const id = `chosen-${randomBytes(4).toString('hex')}`;
  await store.create(exclusive(id, 6, 'first'));
  t.equal(await store.write(Readable.from([Buffer.from('abc')]), id, 0), 3);
  await t.rejects(store.create(exclusive(id, 9, 'second')), TAKEN, 'the second creation is refused');
  await t.rejects(store.concatenate(id, [], { who: 'third' }, { exclusive: true }), TAKEN, 'so is a concatenation given the id');
  const kept = await store.getUpload(id);
  t.same([kept.size, kept.offset, kept.metadata], [6, 3, { who: 'first' }], 'the first upload is as it was');
  t.equal(readFileSync(join(dir, id), 'utf8'), 'abc');
});
