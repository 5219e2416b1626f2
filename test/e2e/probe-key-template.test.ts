/** Hostile metadata values in a key template on local and s3 (azure: test/azure/probe-hostile.test.ts). */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import t, { type Test } from 'tap';
import { b64, head, startAppFor, TUS } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { listKeys, objectSha256, removeKeys, s3LocationEnv, s3TestServer, verifyClient } from '../helpers/s3.js';

const TEMPLATE = 'k/{metadata.name}/{id}/{metadata.Name}';

async function appOn(t: Test, driver: 'local' | 's3') {
  const root = `probe25-${randomBytes(4).toString('hex')}/`;
  const dir = mkdtempSync(join(tmpdir(), 'probe25-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = s3TestServer();
  const s3 = verifyClient(server);
  const env =
    driver === 'local'
      ? { STORAGE_LOCAL_ROOT: dir, STORAGE_LOCAL_KEY_TEMPLATE: TEMPLATE }
      : s3LocationEnv(server, root, { STORAGE_S3_KEY_TEMPLATE: TEMPLATE });
  if (driver === 's3') t.teardown(() => removeKeys(s3, server.bucket, root));
  const { url } = await startAppFor(t, env);
  const stored = async (): Promise<string[]> =>
    driver === 'local'
      ? readdirSync(dir, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => relative(dir, join(e.parentPath, e.name)))
      : (await listKeys(s3, server.bucket, root)).map((k) => k.slice(root.length));
  const hash = async (key: string) =>
    driver === 'local' ? sha256(readFileSync(join(dir, key))) : (await objectSha256(s3, server.bucket, `${root}${key}`)).sha256;
  return { base: url, stored, hash };
}

const VALUES = [
  '../',
  '%2e%2e',
  '..',
  '.',
  '...',
  'a.',
  'x\u0000y\u0001',
  '\u202Eevil\u202C.txt',
  '\u00e9'.repeat(500),
  'a/b/../c',
  'a\\b',
  ' ',
  'x?y#z&w=%',
  '.tus-hooks',
];

for (const driver of ['local', 's3'] as const) {
  t.test(`${driver}: hostile metadata values land in their own segment, bytes exact, removed by DELETE`, async (t) => {
    const s = await appOn(t, driver);
    for (const value of VALUES) {
      const data = randomData(100);
      const res = await fetch(`${s.base}/files/`, {
        method: 'POST',
        headers: {
          ...TUS,
          'Upload-Length': String(data.length),
          'Upload-Metadata': `name ${b64(value)},Name ${b64(value.toUpperCase())}`,
          'Content-Type': 'application/offset+octet-stream',
        },
        body: data as unknown as BodyInit,
      });
      t.equal(res.status, 201, JSON.stringify(value));
      const url = new URL(res.headers.get('location') ?? '', s.base).toString();
      const id = url.split('/').pop() as string;
      t.equal((await head(url)).headers.get('upload-offset'), '100');
      t.ok(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(data), `${JSON.stringify(value)}: download`);
      const keys = (await s.stored()).filter((k) => k.split('/')[2] === id);
      t.equal(keys.length, 1, `${JSON.stringify(value)}: one object: ${keys.join(', ')}`);
      const key = keys[0] ?? '';
      const segments = key.split('/');
      t.equal(segments.length, 4, `${key}: four segments`);
      t.notOk(
        segments.some((x) => x === '.' || x === '..' || x === ''),
        `${key}: no dot segment`,
      );
      t.equal(await s.hash(key), sha256(data));
      t.equal((await fetch(url, { method: 'DELETE', headers: TUS })).status, 204);
      t.notOk(
        (await s.stored()).some((k) => k.includes(id)),
        `${JSON.stringify(value)}: removed`,
      );
    }
  });
}
