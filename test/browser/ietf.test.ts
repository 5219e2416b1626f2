/**
 * tus-js-client in headless Chromium speaking the IETF draft (`ietf-draft-03`: interop version
 * 5, `ietf-draft-05`: 6), cross-origin, on a local and an S3 location: 30 MiB in 5 MiB chunks,
 * aborted in the middle of a request, resumed from the upload URL with a HEAD, sha256 right.
 * The browser reads Upload-Offset and Location only if CORS exposes them, and may send
 * Upload-Draft-Interop-Version and Upload-Complete only if the preflight allows them.
 */
import t from 'tap';
import { appOnEachLocation, browserAndPages, openPage } from '../helpers/browser.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { MiB } from '../helpers/sizes.js';

const PAGE = `<!doctype html><script src="/tus.js"></script><script>
window.cutAndResume = async (endpoint, protocol, cutAt) => {
  const blob = await (await fetch('/data.bin')).blob();
  const options = { endpoint, protocol, chunkSize: 5 * 1024 * 1024, retryDelays: [0, 500],
    metadata: { filename: 'ietf.bin', filetype: 'application/octet-stream' } };
  const requests = [];
  const first = new tus.Upload(blob, { ...options, onBeforeRequest: (req) => { requests.push(req.getMethod()); } });
  await new Promise((resolve, reject) => {
    first.options.onProgress = (sent) => { if (sent >= cutAt) first.abort().then(resolve, reject); };
    first.options.onError = reject;
    first.options.onSuccess = () => reject(new Error('finished before the cut'));
    first.start();
  });
  let resumedFrom = -1;
  const second = new tus.Upload(blob, { ...options, uploadUrl: first.url,
    onBeforeRequest: (req) => { requests.push(req.getMethod()); } });
  await new Promise((resolve, reject) => {
    second.options.onProgress = (sent) => { if (resumedFrom < 0) resumedFrom = sent; };
    second.options.onError = reject;
    second.options.onSuccess = resolve;
    second.start();
  });
  return { url: second.url, firstUrl: first.url, resumedFrom, requests };
};
</script>`;

t.test('tus-js-client in Chromium over the IETF draft, cut and resumed, cross-origin', async (t) => {
  const data = randomData(30 * MiB);
  const expected = sha256(data);
  const { browser, pages } = await browserAndPages(t, data, { '/ietf.html': PAGE });

  for (const [name, app] of await appOnEachLocation(t, 'browser-ietf')) {
    for (const protocol of ['ietf-draft-03', 'ietf-draft-05'] as const) {
      t.test(`${protocol} on the ${name} location`, async (t) => {
        const { page, errors } = await openPage(browser, `${pages.url}/ietf.html`);
        const result = (await page.evaluate(
          `window.cutAndResume(${JSON.stringify(`${app.url}/files/`)}, ${JSON.stringify(protocol)}, ${12.5 * MiB})`,
        )) as { url: string; firstUrl: string; resumedFrom: number; requests: string[] };
        await page.close();
        // The aborted request shows as a failed load in the console; anything else is a defect (CORS would show here).
        t.same(
          errors.filter((e) => !/net::ERR_ABORTED|Failed to load resource/.test(e)),
          [],
          'no browser errors',
        );
        t.equal(result.url, result.firstUrl, 'resumed into the same upload');
        t.ok(result.requests.includes('HEAD'), `the resume asked for the offset (${result.requests.join(' ')})`);
        t.ok(result.resumedFrom >= 10 * MiB, `resumed from ${result.resumedFrom}, not from the start`);
        const head = await fetch(result.url, { method: 'HEAD', headers: { 'Upload-Draft-Interop-Version': '6' } });
        t.equal(head.headers.get('upload-complete'), '?1');
        const stored = Buffer.from(await (await fetch(result.url)).arrayBuffer());
        t.equal(sha256(stored), expected, 'stored sha256');
      });
    }
  }
});
