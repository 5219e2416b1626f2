/** The real tus-js-client (Node) with each of its modes, on every driver (local, S3, Azure); every upload's bytes are checked. */
import t from 'tap';
import * as tus from 'tus-js-client';
import { head, startAppFor } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { everyDriver } from '../helpers/drivers.js';
import { scratchFile } from '../helpers/scratch.js';
import { MiB } from '../helpers/sizes.js';

const { FileUrlStorage } = tus as unknown as { FileUrlStorage: new (path: string) => tus.UrlStorage };

function upload(data: Buffer, options: Partial<tus.UploadOptions>): Promise<tus.Upload> {
  return new Promise((resolve, reject) => {
    const u = new tus.Upload(data, { retryDelays: [0, 300], ...options, onSuccess: () => resolve(u), onError: reject });
    u.start();
  });
}

async function stored(url: string): Promise<string> {
  return sha256(Buffer.from(await (await fetch(url)).arrayBuffer()));
}

const locations = everyDriver('clients');

for (const [name, env] of locations) {
  t.test(`tus-js-client modes on the ${name} location`, async (t) => {
    const app = await startAppFor(t, env());
    const endpoint = `${app.url}/files/`;
    const data = randomData(13 * MiB + 3);
    const expected = sha256(data);

    t.test('chunked, with metadata round trip', async (t) => {
      const metadata = { filename: 'Grüße 🌍.txt', filetype: 'text/plain', note: 'a,b c' };
      const u = await upload(data, { endpoint, chunkSize: 5 * MiB, metadata });
      t.equal(await stored(u.url as string), expected);
      const raw = (await head(u.url as string)).headers.get('upload-metadata') ?? '';
      const decoded = Object.fromEntries(
        raw
          .split(',')
          .map((kv) => kv.split(' '))
          .map(([k, v]) => [k, Buffer.from(v ?? '', 'base64').toString()]),
      );
      t.same(decoded, metadata);
    });

    t.test('creation-with-upload (uploadDataDuringCreation)', async (t) => {
      const u = await upload(data, { endpoint, uploadDataDuringCreation: true, chunkSize: 8 * MiB });
      t.equal(await stored(u.url as string), expected);
    });

    t.test('deferred length (uploadLengthDeferred)', async (t) => {
      const u = await upload(data, { endpoint, uploadLengthDeferred: true, chunkSize: 6 * MiB });
      t.equal(await stored(u.url as string), expected);
    });

    t.test('parallelUploads: 4 (concatenation)', async (t) => {
      for (const d of [data, randomData(40 * MiB + 1)]) {
        const u = await upload(d, { endpoint, parallelUploads: 4, metadata: { filename: 'p.bin' } });
        t.equal(await stored(u.url as string), sha256(d), `${d.length} bytes in 4 partial uploads`);
        t.match((await head(u.url as string)).headers.get('upload-concat'), /^final;/);
      }
    });

    t.test('removeFingerprintOnSuccess', async (t) => {
      const urlStorage = new FileUrlStorage(scratchFile(t, 'tus-fp.json'));
      const u = await upload(data, {
        endpoint,
        chunkSize: 8 * MiB,
        urlStorage,
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
      });
      t.equal(await stored(u.url as string), expected);
      t.same(await urlStorage.findAllUploads(), [], 'the fingerprint is gone after success');
      const kept = new FileUrlStorage(scratchFile(t, 'tus-fp-kept.json'));
      await upload(data, {
        endpoint,
        chunkSize: 8 * MiB,
        urlStorage: kept,
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: false,
      });
      t.equal((await kept.findAllUploads()).length, 1, 'and kept without the option');
    });
  });
}
