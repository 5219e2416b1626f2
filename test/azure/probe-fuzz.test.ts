/**
 * Random PATCH sizes across block edges on azure, some cut mid-body, some with a wrong offset,
 * the deferred and the known length: the client resumes from HEAD each time, as a tus client
 * does; the committed blob must be the bytes, and nothing else may remain.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createUpload, head, patch, startAppFor } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, blobSha256, removeBlobs, storedBlobs, verifyContainer } from '../helpers/azure.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { cutPatch } from '../helpers/cut-request.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const server = azureTestServer();
const verify = verifyContainer(server);

t.test('azure: random PATCHes, cuts and wrong offsets, known and deferred length', async (t) => {
  const root = `probe25-${randomBytes(4).toString('hex')}/`;
  t.teardown(() => removeBlobs(verify, root));
  const { url: base } = await startAppFor(t, azureLocationEnv(server, root, { STORAGE_AZURE_TUS__CHUNK_SIZE: '1mb' }));
  let seed = Number.parseInt(randomBytes(4).toString('hex'), 16);
  t.comment(`seed ${seed}`);
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const ids: string[] = [];
  for (const deferred of [false, true, false, true]) {
    const data = randomData(3 * MiB + rand(MiB));
    const url = await createUpload(base, deferred ? 'deferred' : data.length);
    ids.push(url.split('/').pop() as string);
    let offset = 0;
    let rounds = 0;
    while (offset < data.length && rounds++ < 200) {
      const kind = rand(10);
      const length = Math.min(data.length - offset, [1, 7, 4096, 300_000, MiB - 1, MiB, MiB + 1][rand(7)] as number);
      const last = offset + length === data.length;
      const extra: Record<string, string> = deferred && last ? { 'Upload-Length': String(data.length) } : {};
      if (kind === 0) {
        const wrong = await patch(url, offset + 1, data.subarray(offset + 1, offset + 2));
        t.equal(wrong.status, 409, 'a wrong offset');
      } else if (kind <= 2 && length > 2 && !last) {
        await cutPatch(url, offset, data.subarray(offset, offset + length), Math.floor(length / 2));
      } else {
        const res = await patch(url, offset, data.subarray(offset, offset + length), extra);
        t.equal(res.status, 204, `PATCH ${offset}+${length}`);
      }
      // Resume from the server's offset, as a tus client does (a cut request may still be finishing).
      let next = -1;
      await until(async () => {
        const h = await head(url);
        if (h.status !== 200) return false;
        const o = Number(h.headers.get('upload-offset'));
        const settled = o === next;
        next = o;
        return settled;
      }, 'HEAD to settle');
      t.ok(next >= offset && next <= data.length, `offset ${offset} -> ${next}`);
      offset = next;
    }
    t.equal(offset, data.length, 'complete');
    t.same(await blobSha256(verify, `${root}${ids.at(-1)}`), { sha256: sha256(data), size: data.length }, 'byte-exact');
  }
  t.same(await storedBlobs(verify, root), ids.flatMap((id) => [`${root}${id}`, `${root}${id}.info`]).sort(), 'no tail, nothing else');
});
