/**
 * A Directus `.env` with an azure location, as Directus documents it (double-quoted values,
 * Directus's own variables beside ours), starts the built server as a user would (the file in
 * its working directory) and an upload lands in the container.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { b64, TUS } from '../helpers/app.js';
import { azureTestServer, blobProperties, blobSha256, removeBlobs, verifyContainer } from '../helpers/azure.js';
import { idOf } from '../helpers/ids.js';
import { startProcess } from '../helpers/process.js';
import { uniqueRoot } from '../helpers/s3.js';

const server = azureTestServer();
const container = verifyContainer(server);

t.test('a Directus-style .env with an azure location starts the server and stores uploads in the container', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tus-directus-env-'));
  const root = uniqueRoot('directus-env');
  t.teardown(async () => {
    rmSync(dir, { recursive: true, force: true });
    await removeBlobs(container, root);
  });
  writeFileSync(
    join(dir, '.env'),
    [
      '# Directus: the database and its own secrets (not ours, ignored)',
      'DB_CLIENT="sqlite3"',
      'DB_FILENAME="./data.db"',
      'KEY="255d861b-5ea1-5996-9aa3-922530ec40b1"',
      'SECRET="6116487b-cda1-52c2-b5b5-c8022c45e263"',
      '# Directus: File Storage, an Azure location (docs.directus.io, Configuration, Files)',
      'STORAGE_LOCATIONS="azure"',
      'STORAGE_AZURE_DRIVER="azure"',
      `STORAGE_AZURE_CONTAINER_NAME="${server.container}"`,
      `STORAGE_AZURE_ACCOUNT_NAME="${server.account}"`,
      `STORAGE_AZURE_ACCOUNT_KEY="${server.key}"`,
      `STORAGE_AZURE_ENDPOINT="${server.endpoint}"`,
      `STORAGE_AZURE_ROOT="${root}"`,
      '',
    ].join('\n'),
  );
  const app = await startProcess({}, { cwd: dir });
  t.teardown(() => app.stop());
  t.equal((await fetch(`${app.url}/readyz`)).status, 200, `ready: ${app.output()}`);

  const data = randomBytes(300_000);
  const created = await fetch(`${app.url}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': String(data.length), 'Upload-Metadata': `filetype ${b64('image/png')}` },
  });
  t.equal(created.status, 201);
  const url = new URL(created.headers.get('location') ?? '', app.url).toString();
  const patched = await fetch(url, {
    method: 'PATCH',
    headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' },
    body: data,
  });
  t.equal(patched.status, 204);
  t.equal(patched.headers.get('upload-offset'), String(data.length));

  const blob = `${root}${idOf(url)}`;
  const stored = await blobSha256(container, blob);
  t.equal(stored.size, data.length, 'the whole upload is in the container');
  t.equal(stored.sha256, createHash('sha256').update(data).digest('hex'), 'byte for byte');
  t.equal((await blobProperties(container, blob)).contentType, 'image/png', 'with its type');
  t.notMatch(app.output(), /DB_CLIENT|DB_FILENAME|\bKEY\b|[^_]SECRET\b/, "Directus's own variables are not ours to warn about");
});
