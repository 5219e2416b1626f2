/**
 * Bucket.putState, the conditional write of `.info`, against a fake S3 client that behaves as
 * each kind of server does with If-Match on PutObject: AWS (the quoted ETag), Ceph radosgw (only
 * the bare ETag; the quoted one refused with 412), Swift's s3api (501 NotImplemented), and a
 * server that refuses its own ETag in both forms. The form is learnt at the first write; a
 * version changed by another writer fails with STATE_CHANGED (409) and is not written. The real
 * servers are in test/s3/lock-hold.test.ts (Swift under `npm test`, Ceph under `npm run test:ceph`).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import t, { type Test } from 'tap';
import { parseConfig, type S3Location } from '../../src/config/index.js';
import { Bucket } from '../../src/stores/s3/bucket.js';
import { STATE_CHANGED } from '../../src/stores/s3/errors.js';

const location = parseConfig({
  STORAGE_LOCATIONS: 's3',
  STORAGE_S3_DRIVER: 's3',
  STORAGE_S3_BUCKET: 'b',
  STORAGE_S3_REGION: 'us-east-1',
  STORAGE_S3_KEY: 'k',
  STORAGE_S3_SECRET: 's',
  STORAGE_S3_ENDPOINT: 'http://127.0.0.1:1',
}).locations[0] as S3Location;

type Kind = 'aws' | 'ceph' | 'swift' | 'broken';

/** One object store holding one key's versions, answering If-Match as `kind` does. */
function fakeS3(kind: Kind) {
  let version = 0;
  let etag = '"v0"';
  const sent: Array<{ name: string; ifMatch?: string }> = [];
  const fail = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  const client = {
    async send(command: { constructor: { name: string }; input: { IfMatch?: string } }) {
      const name = command.constructor.name.replace(/Command$/, '');
      const ifMatch = command.input.IfMatch;
      sent.push({ name, ...(ifMatch !== undefined ? { ifMatch } : {}) });
      if (name === 'HeadObject') return { ETag: etag };
      if (name !== 'PutObject') throw new Error(`unexpected ${name}`);
      if (ifMatch !== undefined) {
        if (kind === 'swift') throw fail('NotImplemented', 501);
        const bare = etag.replace(/"/g, '');
        const matches = kind === 'aws' ? ifMatch.replace(/"/g, '') === bare : kind === 'ceph' ? ifMatch === bare : false;
        if (!matches) throw fail('PreconditionFailed', 412);
      }
      version += 1;
      etag = `"v${version}"`;
      return { ETag: etag };
    },
  };
  return {
    client: client as unknown as S3Client,
    sent,
    /** Another writer replaces the object. */
    replace() {
      version += 1;
      etag = `"v${version}"`;
    },
    get etag() {
      return etag;
    },
  };
}

const body = Buffer.from('{}');

for (const kind of ['aws', 'ceph'] as const) {
  t.test(`${kind}: If-Match learnt in the form the server reads; a changed version is not overwritten`, async (t) => {
    const s3 = fakeS3(kind);
    const bucket = new Bucket(location, s3.client);
    const first = await bucket.putState('x.info', body, '"v0"');
    t.equal(first, s3.etag, 'written, its new ETag returned');
    const second = await bucket.putState('x.info', body, first);
    t.equal(second, s3.etag);
    const conditional = s3.sent.filter((c) => c.name === 'PutObject' && c.ifMatch !== undefined);
    const forms = conditional.map((c) => (c.ifMatch?.startsWith('"') ? 'quoted' : 'bare'));
    t.same(forms, kind === 'aws' ? ['quoted', 'quoted'] : ['quoted', 'bare', 'bare'], `forms sent: ${forms.join(', ')}`);
    s3.replace();
    const stale = await bucket.putState('x.info', body, second).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.equal(stale, STATE_CHANGED, 'a version changed since: STATE_CHANGED');
    t.equal(STATE_CHANGED.status_code, 409);
    t.notOk(
      s3.sent.some((c) => c.name === 'PutObject' && c.ifMatch === undefined),
      'never an unconditional write',
    );
  });
}

/** Two writes of .info on a fake S3 of `kind`, the first with a stale ETag: what was sent (each with If-Match or not). */
async function twoWrites(t: Test, kind: Kind, sent: string[]) {
  const s3 = fakeS3(kind);
  const bucket = new Bucket(location, s3.client);
  t.equal(await bucket.putState('x.info', body, '"v0"'), s3.etag);
  await bucket.putState('x.info', body, s3.etag);
  t.same(
    s3.sent.map((c) => `${c.name}${c.ifMatch ? ' If-Match' : ''}`),
    sent,
  );
}

t.test('swift: 501 NotImplemented once, then unconditional writes (no more If-Match)', async (t) => {
  await twoWrites(t, 'swift', ['PutObject If-Match', 'PutObject', 'PutObject']);
});

t.test('a server that refuses its own ETag in both forms: unconditional from then on, not STATE_CHANGED', async (t) => {
  await twoWrites(t, 'broken', ['PutObject If-Match', 'HeadObject', 'PutObject If-Match', 'HeadObject', 'PutObject', 'PutObject']);
});

t.test('no version known (a new upload): an unconditional write', async (t) => {
  const s3 = fakeS3('aws');
  const bucket = new Bucket(location, s3.client);
  await bucket.putState('x.info', body, undefined);
  t.same(s3.sent, [{ name: 'PutObject' }]);
});
