/**
 * TUS_TEMP_MAX_SIZE: bodies with Upload-Checksum are spooled to TUS_TEMP_DIR while hashed, and
 * every spool together holds at most that many bytes. A body that cannot fit now is 503 with
 * Retry-After, one that never can is 413; either way nothing is stored and no spool is left.
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import t from 'tap';
import { createUpload, head, patch, startAppFor } from '../helpers/app.js';
import { randomData } from '../helpers/bytes.js';
import { everyDriver } from '../helpers/drivers.js';
import { patchRequest } from '../helpers/raw-request.js';
import { s3TestServer } from '../helpers/s3.js';
import { scratchDir } from '../helpers/scratch.js';
import { metric, until } from '../helpers/wait.js';

const server = s3TestServer();
const sha1 = (data: Uint8Array) => `sha1 ${createHash('sha1').update(data).digest('base64')}`;

const drivers = everyDriver('temp', server);

for (const [name, env] of drivers) {
  t.test(`${name}: checksum spools share TUS_TEMP_MAX_SIZE; 503 while it is in use, 413 for a body that never fits`, async (t) => {
    const tempDir = scratchDir(t, 'tus-temp-max-');
    const app = await startAppFor(t, { ...env(), TUS_TEMP_DIR: tempDir, TUS_TEMP_MAX_SIZE: '1000', TUS_BODY_IDLE_TIMEOUT: '0' });

    const large = randomData(1500);
    const url = await createUpload(app.url, 2000);
    const tooLarge = await patch(url, 0, large, { 'Upload-Checksum': sha1(large) });
    t.equal(tooLarge.status, 413);
    t.equal(
      await tooLarge.text(),
      'A body with Upload-Checksum is spooled to verify it, and spools are limited to 1000 bytes (TUS_TEMP_MAX_SIZE); nothing was stored, send PATCHes of at most that many bytes\n',
    );

    // A holds 800 bytes of the 1000 while its body arrives slowly.
    const first = randomData(800);
    const held = await createUpload(app.url, 800);
    const { pathname, port } = new URL(held);
    const a = connect(Number(port), '127.0.0.1');
    let answer = '';
    a.on('data', (d) => {
      answer += d;
    });
    a.write(
      `PATCH ${pathname} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 800\r\nUpload-Checksum: ${sha1(first)}\r\n\r\n`,
    );
    a.write(first.subarray(0, 100));
    await until(() => readdirSync(tempDir).length === 1, "A's spool to begin", 5000);

    const second = randomData(300);
    const busy = await patch(url, 0, second, { 'Upload-Checksum': sha1(second) });
    t.equal(busy.status, 503, 'B does not fit beside A');
    t.equal(busy.headers.get('retry-after'), '5');
    t.equal(
      await busy.text(),
      'The space for verifying checksums (TUS_TEMP_MAX_SIZE) is in use by other uploads; nothing was stored, send the PATCH again in a moment\n',
    );
    t.equal((await head(url)).headers.get('upload-offset'), '0', 'nothing of B stored');
    t.equal(readdirSync(tempDir).length, 1, "only A's spool");

    a.write(first.subarray(100));
    await until(() => answer.includes('\r\n\r\n'), "A's answer", 10000);
    t.match(answer, /^HTTP\/1\.1 204 No Content\r\n/, 'A completes');
    a.destroy();
    await until(() => readdirSync(tempDir).length === 0, "A's spool to be removed", 5000);
    const retried = await patch(url, 0, second, { 'Upload-Checksum': sha1(second) });
    t.equal(retried.status, 204, 'B sent again once the space is free');
    t.equal(retried.headers.get('upload-offset'), '300');
    t.equal(await metric(app.url, 'tus_temp_bytes'), 0);
  });
}

t.test('a chunked checksum body (no Content-Length) that passes TUS_TEMP_MAX_SIZE is refused mid-way; nothing stored', async (t) => {
  const tempDir = scratchDir(t, 'tus-temp-max-');
  const app = await startAppFor(t, { TUS_TEMP_DIR: tempDir, TUS_TEMP_MAX_SIZE: '1000' });
  const url = await createUpload(app.url, 5000);
  const data = randomData(3000);
  const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = patchRequest(url, 0, { 'Transfer-Encoding': 'chunked', 'Upload-Checksum': sha1(data) });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    for (let i = 0; i < data.length; i += 500) req.write(data.subarray(i, i + 500));
    req.end();
  });
  t.equal(status.status, 413);
  t.match(status.body, /spools are limited to 1000 bytes \(TUS_TEMP_MAX_SIZE\); nothing was stored/);
  t.equal((await head(url)).headers.get('upload-offset'), '0');
  await until(() => readdirSync(tempDir).length === 0, 'the spool to be removed', 5000);
});
