/**
 * A hostile `filetype` metadata value (a quoted MIME parameter holding a control character or a
 * character past U+00FF) on every driver: the upload must still finish and download, its
 * Content-Type one an HTTP header can carry.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { b64, head, patch, startAppFor, TUS } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, removeBlobs, verifyContainer } from '../helpers/azure.js';
import { removeKeys, s3LocationEnv, s3TestServer, verifyClient } from '../helpers/s3.js';

async function appOn(t: Test, driver: 'local' | 's3' | 'azure'): Promise<string> {
  const root = `probe25-${randomBytes(4).toString('hex')}/`;
  let env: Record<string, string>;
  if (driver === 'local') {
    const dir = mkdtempSync(join(tmpdir(), 'probe25-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    env = { STORAGE_LOCAL_ROOT: dir };
  } else if (driver === 's3') {
    const server = s3TestServer();
    env = s3LocationEnv(server, root);
    t.teardown(() => removeKeys(verifyClient(server), server.bucket, root));
  } else {
    env = azureLocationEnv(azureTestServer(), root);
    t.teardown(() => removeBlobs(verifyContainer(azureTestServer()), root));
  }
  const { url } = await startAppFor(t, env);
  return url;
}

// Node refuses these in a header (ERR_INVALID_CHAR): a control character, DEL, past U+00FF.
// A vertical tab or a no-break space between parameters: \s in a pattern takes both.
const HOSTILE = [
  'text/plain; a="\u0001"',
  'text/plain; a="\u007f"',
  'text/plain; name="\u65e5.txt"',
  'text/plain;\u000ba=b',
  'text/plain;\u00a0a=b',
];

for (const driver of ['local', 's3', 'azure'] as const) {
  t.test(`${driver}: a filetype no header can carry is not used; the upload finishes and downloads`, async (t) => {
    const base = await appOn(t, driver);
    for (const filetype of HOSTILE) {
      const res = await fetch(`${base}/files/`, {
        method: 'POST',
        headers: { ...TUS, 'Upload-Length': '3', 'Upload-Metadata': `filetype ${b64(filetype)},filename ${b64('a.txt')}` },
      });
      t.equal(res.status, 201, `${JSON.stringify(filetype)}: created`);
      const url = new URL(res.headers.get('location') ?? '', base).toString();
      const sent = await patch(url, 0, Buffer.from('abc'));
      t.equal(sent.status, 204, `${JSON.stringify(filetype)}: the last PATCH: ${await sent.text()}`);
      const h = await head(url);
      t.equal(h.status, 200, `${JSON.stringify(filetype)}: HEAD`);
      t.equal(h.headers.get('upload-offset'), '3');
      const got = await fetch(url);
      t.equal(got.status, 200, `${JSON.stringify(filetype)}: GET`);
      t.equal(got.headers.get('content-type'), 'application/octet-stream', 'served as bytes');
      t.equal(await got.text(), 'abc');
    }
  });
}
