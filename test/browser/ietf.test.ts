/**
 * tus-js-client in headless Chromium speaking the IETF draft (`ietf-draft-03`: interop version
 * 5, `ietf-draft-05`: 6), cross-origin, on every driver (local, S3, Azure): 30 MiB in 5 MiB chunks,
 * aborted in the middle of a request, resumed from the upload URL with a HEAD, sha256 right.
 * The browser reads Upload-Offset and Location only if CORS exposes them, and may send
 * Upload-Draft-Interop-Version and Upload-Complete only if the preflight allows them.
 */
import t from 'tap';
import { appOnEachLocation, browserAndPages, CUT_AND_RESUME_PAGE, cutAndResumeIn } from '../helpers/browser.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { storedSha256 } from '../helpers/drivers.js';
import { idOf } from '../helpers/ids.js';
import { MiB } from '../helpers/sizes.js';

t.test('tus-js-client in Chromium over the IETF draft, cut and resumed, cross-origin', async (t) => {
  const data = randomData(30 * MiB);
  const expected = sha256(data);
  const { browser, pages } = await browserAndPages(t, data, { '/ietf.html': CUT_AND_RESUME_PAGE });

  for (const [name, app, env] of await appOnEachLocation(t, 'browser-ietf')) {
    for (const protocol of ['ietf-draft-03', 'ietf-draft-05'] as const) {
      t.test(`${protocol} on the ${name} location`, async (t) => {
        // The aborted request shows as a failed load in the console; anything else is a defect (CORS would show here).
        const run = { endpoint: `${app.url}/files/`, protocol, cutAt: 12.5 * MiB, resumedAtLeast: 10 * MiB };
        const result = await cutAndResumeIn(t, browser, `${pages.url}/ietf.html`, run);
        const head = await fetch(result.url, { method: 'HEAD', headers: { 'Upload-Draft-Interop-Version': '6' } });
        t.equal(head.headers.get('upload-complete'), '?1');
        const stored = Buffer.from(await (await fetch(result.url)).arrayBuffer());
        t.equal(sha256(stored), expected, 'downloaded sha256');
        t.equal(await storedSha256(name, env, app.root, idOf(result.url)), expected, 'the stored file, object or blob itself');
      });
    }
  }
});
