/**
 * Resumable Uploads for HTTP (the IETF draft, interop versions 5 and 6) on the tus endpoints,
 * on every driver (local, S3, Azure): tus-js-client's `ietf-draft-03` and `ietf-draft-05` protocols with a cut
 * mid-request and a resume; a request sequence shaped like URLSession's (the whole file in one
 * POST, its 104 read by a real HTTP client, the connection dropped mid-body, then HEAD and an
 * `application/partial-upload` PATCH); the draft's problem answers; one upload in two protocols;
 * and authentication and ownership applying to IETF requests as to tus ones.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import * as tus from 'tus-js-client';
import { startApp, startAppFor, TUS } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { everyDriver, storedSha256, storedUnder } from '../helpers/drivers.js';
import { HookReceiver } from '../helpers/hook-receiver.js';
import { idOf, locationOf } from '../helpers/ids.js';
import { scratchDir, scratchFile } from '../helpers/scratch.js';
import { MiB } from '../helpers/sizes.js';
import { metric, until } from '../helpers/wait.js';

const V6 = { 'Upload-Draft-Interop-Version': '6' } as const;
const V5 = { 'Upload-Draft-Interop-Version': '5' } as const;
const PROBLEM = 'https://iana.org/assignments/http-problem-types#';
// FileUrlStorage is exported by the Node build but missing from the package's types.
const { FileUrlStorage } = tus as unknown as { FileUrlStorage: new (path: string) => tus.UrlStorage };

/** A Buffer as a fetch body (the DOM types do not know Buffer). */
const bodyOf = (data: Buffer) => data as unknown as BodyInit;
const drivers = everyDriver('ietf');

/** HEAD in the IETF dialect: offset, completeness and the rest of the headers. */
/** A v6 append of `body` at offset 0 with Upload-Complete `complete`, sent as `type`. */
function appendAt0(url: string, complete: '?0' | '?1', type: string, body: string): Promise<Response> {
  return fetch(url, {
    method: 'PATCH',
    headers: { ...V6, 'Upload-Offset': '0', 'Upload-Complete': complete, 'Content-Type': type },
    body,
  });
}

async function ietfHead(url: string, headers: Record<string, string> = V6) {
  const res = await fetch(url, { method: 'HEAD', headers });
  return {
    status: res.status,
    offset: Number(res.headers.get('upload-offset')),
    complete: res.headers.get('upload-complete'),
    headers: res.headers,
  };
}

/**
 * A creation POST carrying the whole file (Upload-Complete: ?1), as URLSession sends it, cut
 * after `sent` bytes. Resolves with the informational (1xx) answers the client saw before the
 * connection died, read through Node's HTTP client ('information' events).
 */
function cutCreation(endpoint: string, data: Buffer, sent: number): Promise<{ status: number; headers: IncomingHttpHeaders }[]> {
  const informational: { status: number; headers: IncomingHttpHeaders }[] = [];
  return new Promise((resolve) => {
    const req = httpRequest(endpoint, {
      method: 'POST',
      headers: { ...V6, 'Upload-Complete': '?1', 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) },
    });
    const done = () => resolve(informational);
    req.on('information', (info) => informational.push({ status: info.statusCode, headers: info.headers }));
    req.on('error', done);
    req.on('close', done);
    req.on('response', (res) => {
      res.resume();
      res.on('end', done);
    });
    // The 104 arrives while the body is still being sent; the connection dies once `sent` bytes are out.
    req.write(data.subarray(0, sent), () => {
      until(() => informational.length > 0, 'the 104 answer', 10_000).then(
        () => req.socket?.end(),
        () => req.socket?.end(),
      );
    });
  });
}

/** tus-js-client in one of its IETF protocols: 5 MiB chunks, aborted mid-request, resumed from a fresh Upload. */
async function tusJsClientCutAndResumed(
  t: Test,
  endpoint: string,
  file: string,
  protocol: 'ietf-draft-03' | 'ietf-draft-05',
  size: number,
) {
  const urlStorage = new FileUrlStorage(scratchFile(t, `tus-ietf-urls-${protocol}.json`));
  const options = {
    endpoint,
    protocol,
    chunkSize: 5 * MiB,
    retryDelays: [0, 500, 1000],
    urlStorage,
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: false,
    metadata: { filename: `${protocol}.bin`, filetype: 'application/octet-stream' },
  };
  const first = new tus.Upload(createReadStream(file), options);
  // Aborted in the middle of the third chunk's request (after 12.5 MiB went out).
  await new Promise<void>((resolve, reject) => {
    first.options.onProgress = (sent) => {
      if (sent >= 12.5 * MiB) first.abort().then(resolve, reject);
    };
    first.options.onError = reject;
    first.options.onSuccess = () => reject(new Error('finished before the interruption'));
    first.start();
  });
  const url = first.url as string;
  // The cut request is over once the offset stops moving (the server keeps what arrived).
  let last = -1;
  await until(
    async () => {
      const { offset } = await ietfHead(url, protocol === 'ietf-draft-03' ? V5 : V6);
      const settled = offset === last;
      last = offset;
      return settled;
    },
    'the offset after the cut to settle',
    20_000,
    300,
  );
  t.ok(last >= 10 * MiB && last < size, `the cut upload is at ${last} (two chunks and what arrived of the third)`);
  const second = new tus.Upload(createReadStream(file), options);
  const previous = await second.findPreviousUploads();
  t.equal(previous.length, 1, 'the client finds its upload again');
  second.resumeFromPreviousUpload(previous[0] as tus.PreviousUpload);
  let resumedFrom = -1;
  await new Promise<void>((resolve, reject) => {
    second.options.onProgress = (sent) => {
      if (resumedFrom < 0) resumedFrom = sent;
    };
    second.options.onError = reject;
    second.options.onSuccess = () => resolve();
    second.start();
  });
  t.equal(second.url, url, 'resumed into the same upload');
  t.ok(resumedFrom >= last, `resumed from ${resumedFrom}, not from the start`);
  return url;
}

for (const [name, makeEnv] of drivers) {
  t.test(`${name}: IETF draft`, async (t) => {
    const env = makeEnv();
    const app = await startAppFor(t, env);
    /** The sha256 of a finished upload's bytes, read from the storage itself. */
    const stored = (url: string) => storedSha256(name, env, app.root, idOf(url));
    const endpoint = `${app.url}/files/`;

    const size = 30 * MiB;
    const dir = scratchDir(t, 'tus-ietf-');
    const file = join(dir, '30mib.bin');
    const data = randomData(size);
    writeFileSync(file, data);

    for (const protocol of ['ietf-draft-03', 'ietf-draft-05'] as const) {
      t.test(`tus-js-client (${protocol}): 30 MiB in 5 MiB chunks, cut mid-request and resumed`, async (t) => {
        const url = await tusJsClientCutAndResumed(t, endpoint, file, protocol, size);
        t.equal(await stored(url), sha256(data), 'the stored bytes are the file');
        const head = await ietfHead(url, protocol === 'ietf-draft-03' ? V5 : V6);
        t.equal(head.complete, '?1', 'HEAD says the upload is complete');
        t.equal(head.headers.get('upload-length'), String(size));
      });
    }

    t.test('URLSession-shaped: the whole file in one POST, 104 before the body, cut, then HEAD and a partial-upload PATCH', async (t) => {
      const whole = randomData(12 * MiB);
      const informational = await cutCreation(endpoint, whole, 7 * MiB);
      const early = informational.find((i) => i.status === 104);
      t.ok(early, `a 104 Upload Resumption Supported arrived before the final answer (1xx seen: ${informational.map((i) => i.status)})`);
      const url = new URL(String(early?.headers.location), endpoint).href;
      t.equal(early?.headers['upload-draft-interop-version'], '6', 'the 104 names the interop version');
      let head = await ietfHead(url);
      await until(
        async () => {
          const again = await ietfHead(url);
          const settled = again.offset === head.offset;
          head = again;
          return settled;
        },
        'the offset after the cut to settle',
        20_000,
        300,
      );
      t.equal(head.status, 200);
      t.ok(head.offset > 0 && head.offset <= 7 * MiB, `HEAD: ${head.offset} bytes kept of the 7 MiB sent`);
      t.equal(head.complete, '?0', 'not complete yet');
      t.equal(head.headers.get('upload-length'), String(whole.length), 'the length came from the POST');
      t.equal(head.headers.get('cache-control'), 'no-store');
      t.equal(head.headers.get('tus-resumable'), null, 'no tus headers in an IETF answer');
      const rest = await fetch(url, {
        method: 'PATCH',
        headers: { ...V6, 'Upload-Offset': String(head.offset), 'Upload-Complete': '?1', 'Content-Type': 'application/partial-upload' },
        body: bodyOf(whole.subarray(head.offset)),
      });
      t.equal(rest.status, 204, await rest.text());
      t.equal(rest.headers.get('upload-complete'), '?1');
      t.equal(rest.headers.get('upload-offset'), String(whole.length));
      t.equal(await stored(url), sha256(whole), 'byte-exact');
      const state = name === 'local' ? 'json' : 'info';
      t.same(await storedUnder(name, env, app.root, idOf(url)), [idOf(url), `${idOf(url)}.${state}`], 'no tail left');
    });

    t.test('a single-request upload (Upload-Complete: ?1) is answered 201 with the whole offset', async (t) => {
      const body = randomData(100_000);
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: { ...V6, 'Upload-Complete': '?1', 'Content-Type': 'image/png' },
        body: bodyOf(body),
      });
      t.equal(res.status, 201, await res.text());
      t.equal(res.headers.get('upload-offset'), String(body.length));
      t.equal(res.headers.get('upload-complete'), '?1');
      const url = locationOf(res, endpoint);
      t.equal(await stored(url), sha256(body));
      // The body's type became the upload's filetype, served on download.
      const got = await fetch(url);
      t.equal(got.headers.get('content-type'), 'image/png');
      t.equal(sha256(Buffer.from(await got.arrayBuffer())), sha256(body), 'downloaded with GET, as a tus upload');
    });

    t.test('offset mismatch, append after completion, inconsistent length, cancellation', async (t) => {
      const created = await fetch(endpoint, { method: 'POST', headers: { ...V6, 'Upload-Complete': '?0', 'Upload-Length': '10' } });
      t.equal(created.status, 201);
      t.equal(created.headers.get('upload-offset'), '0');
      t.equal(created.headers.get('upload-complete'), '?0');
      const url = locationOf(created, endpoint);
      const append = (offset: number, complete: string, body: string) =>
        fetch(url, {
          method: 'PATCH',
          headers: { ...V6, 'Upload-Offset': String(offset), 'Upload-Complete': complete, 'Content-Type': 'application/partial-upload' },
          body,
        });
      t.equal((await append(0, '?0', 'abcd')).status, 204);
      const mismatch = await append(2, '?0', 'xyz');
      t.equal(mismatch.status, 409);
      t.equal(mismatch.headers.get('upload-offset'), '4');
      t.match(mismatch.headers.get('content-type'), /^application\/problem\+json/);
      t.same(await mismatch.json(), {
        type: `${PROBLEM}mismatching-upload-offset`,
        title: "Upload-Offset 2 does not match the upload's offset 4: fetch it with HEAD and append from there",
        'expected-offset': 4,
        'provided-offset': 2,
      });
      const inconsistent = await append(4, '?1', 'ef');
      t.equal(inconsistent.status, 400);
      t.equal((await inconsistent.json()).type, `${PROBLEM}inconsistent-upload-length`);
      t.equal((await ietfHead(url)).offset, 4, 'nothing of a refused append was stored');
      const last = await append(4, '?1', 'efghij');
      t.equal(last.status, 204);
      t.equal(last.headers.get('upload-complete'), '?1');
      const after = await append(10, '?1', 'k');
      t.equal(after.status, 400);
      t.equal((await after.json()).type, `${PROBLEM}completed-upload`);
      const gone = await fetch(url, { method: 'DELETE', headers: V6 });
      t.equal(gone.status, 204, 'cancellation');
      t.equal((await ietfHead(url)).status, 404, 'gone after the DELETE');
    });

    t.test('one upload, two protocols: created over IETF and finished over tus, and the other way round', async (t) => {
      const bytes = randomData(3000);
      const created = await fetch(endpoint, {
        method: 'POST',
        headers: { ...V6, 'Upload-Complete': '?0' },
        body: bodyOf(bytes.subarray(0, 1000)),
      });
      t.equal(created.status, 201);
      t.equal(created.headers.get('upload-offset'), '1000', 'creation with the first bytes, length not yet known');
      const url = locationOf(created, endpoint);
      const tusHead = await fetch(url, { method: 'HEAD', headers: TUS });
      t.equal(tusHead.headers.get('upload-offset'), '1000', 'tus HEAD sees the IETF upload');
      t.equal(tusHead.headers.get('upload-defer-length'), '1', 'tus sees its length deferred');
      const finished = await fetch(url, {
        method: 'PATCH',
        headers: { ...TUS, 'Upload-Offset': '1000', 'Upload-Length': '3000', 'Content-Type': 'application/offset+octet-stream' },
        body: bodyOf(bytes.subarray(1000)),
      });
      t.equal(finished.status, 204, 'finished over tus');
      t.equal((await ietfHead(url)).complete, '?1', 'and complete in the IETF view');
      t.equal(await stored(url), sha256(bytes));

      const tusCreated = await fetch(endpoint, { method: 'POST', headers: { ...TUS, 'Upload-Length': '3000' } });
      const tusUrl = locationOf(tusCreated, endpoint);
      const first = await fetch(tusUrl, {
        method: 'PATCH',
        headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
        body: bodyOf(bytes.subarray(0, 2000)),
      });
      t.equal(first.status, 204);
      const seen = await ietfHead(tusUrl, V5);
      t.equal(seen.offset, 2000, 'an IETF HEAD sees the tus upload');
      t.equal(seen.complete, '?0');
      const rest = await fetch(tusUrl, {
        method: 'PATCH',
        headers: { ...V5, 'Upload-Offset': '2000', 'Upload-Complete': '?1' },
        body: bodyOf(bytes.subarray(2000)),
      });
      t.equal(rest.status, 204, 'finished over IETF (interop version 5: any body type)');
      t.equal(await stored(tusUrl), sha256(bytes));
    });

    t.test('refused: mixed protocols, unknown interop versions, missing Upload-Complete, a v6 append of the wrong type', async (t) => {
      const mixed = await fetch(endpoint, { method: 'POST', headers: { ...V6, ...TUS, 'Upload-Complete': '?0' } });
      t.equal(mixed.status, 400);
      t.match(await mixed.text(), /mixes Tus-Resumable .* and Upload-Draft-Interop-Version/);
      const old = await fetch(endpoint, { method: 'POST', headers: { 'Upload-Draft-Interop-Version': '3', 'Upload-Complete': '?0' } });
      t.equal(old.status, 400);
      t.match(await old.text(), /interop versions 5 and 6/);
      const noComplete = await fetch(endpoint, { method: 'POST', headers: { ...V6 } });
      t.equal(noComplete.status, 400);
      t.match(await noComplete.text(), /Upload-Complete must be \?1 .* or \?0/);
      const created = await fetch(endpoint, { method: 'POST', headers: { ...V6, 'Upload-Complete': '?0', 'Upload-Length': '3' } });
      const url = locationOf(created, endpoint);
      const wrongType = await appendAt0(url, '?1', 'application/offset+octet-stream', 'abc');
      t.equal(wrongType.status, 415);
      t.match(await wrongType.text(), /application\/partial-upload/);
      t.equal((await ietfHead(url)).offset, 0, 'nothing stored');
    });

    t.test('Upload-Complete in every answer is what is stored, whatever the request hoped', async (t) => {
      const complete = (res: Response) => res.headers.get('upload-complete');
      const empty = await fetch(endpoint, { method: 'POST', headers: { ...V6, 'Upload-Complete': '?1', 'Content-Length': '0' } });
      t.equal(empty.status, 201);
      t.equal(complete(empty), '?1', 'an empty file sent whole is complete');
      const emptyUrl = locationOf(empty, endpoint);
      t.equal((await ietfHead(emptyUrl)).complete, '?1', 'and HEAD agrees');
      // ?0 whose body reaches the declared length: complete all the same.
      const filled = await fetch(endpoint, {
        method: 'POST',
        headers: { ...V6, 'Upload-Complete': '?0', 'Upload-Length': '5' },
        body: 'hello',
      });
      t.equal(complete(filled), '?1', 'a ?0 creation that carries every byte is complete');
      const created = await fetch(endpoint, { method: 'POST', headers: { ...V6, 'Upload-Complete': '?0', 'Upload-Length': '5' } });
      const url = locationOf(created, endpoint);
      const reaching = await appendAt0(url, '?0', 'application/partial-upload', 'abcde');
      t.equal(reaching.status, 204);
      t.equal(complete(reaching), '?1', 'a ?0 append that reaches the length is complete');
      // A chunked ?1 creation that ends short of its declared length: stored, but not complete.
      const short = await fetch(endpoint, {
        method: 'POST',
        headers: { ...V6, 'Upload-Complete': '?1', 'Upload-Length': '10' },
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('hello'));
            controller.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
      t.equal(short.status, 201, await short.text());
      t.equal(short.headers.get('upload-offset'), '5');
      t.equal(complete(short), '?0', 'five bytes of ten are not complete, even with ?1');
      const shortUrl = locationOf(short, endpoint);
      t.equal((await ietfHead(shortUrl)).complete, '?0', 'and HEAD agrees');
    });

    t.test("refused in the draft's terms: concatenation, a bad method override, loose versions; parameters ignored", async (t) => {
      const concat = await fetch(endpoint, { method: 'POST', headers: { ...V6, 'Upload-Complete': '?1', 'Upload-Concat': 'partial' } });
      t.equal(concat.status, 400);
      t.match(await concat.text(), /Upload-Concat is a tus extension/);
      const override = await fetch(endpoint, {
        method: 'POST',
        headers: { ...V6, 'Upload-Complete': '?0', 'X-HTTP-Method-Override': 'FOO' },
      });
      t.equal(override.status, 400);
      t.equal(override.headers.get('upload-draft-interop-version'), '6', 'answered as an IETF request');
      t.equal(override.headers.get('tus-resumable'), null, 'without tus headers');
      for (const loose of ['0x6', '6.0', ' 6x']) {
        const res = await fetch(endpoint, { method: 'POST', headers: { 'Upload-Draft-Interop-Version': loose, 'Upload-Complete': '?0' } });
        t.equal(res.status, 400, `interop version ${JSON.stringify(loose)} refused`);
      }
      const params = await fetch(endpoint, { method: 'POST', headers: { ...V6, 'Upload-Complete': '?1;x=1' }, body: 'ok' });
      t.equal(params.status, 201, 'Upload-Complete: ?1;x=1 is ?1');
      t.equal(params.headers.get('upload-complete'), '?1');
    });

    t.test('OPTIONS and CORS: the IETF headers may be sent and read by a browser', async (t) => {
      const preflight = await fetch(endpoint, {
        method: 'OPTIONS',
        headers: {
          Origin: 'https://app.example',
          'Access-Control-Request-Method': 'PATCH',
          'Access-Control-Request-Headers': 'upload-draft-interop-version,upload-complete,upload-offset,content-type',
        },
      });
      t.ok(preflight.status < 300);
      const allowed = (preflight.headers.get('access-control-allow-headers') ?? '').toLowerCase();
      for (const name of ['upload-draft-interop-version', 'upload-complete']) t.ok(allowed.includes(name), `preflight allows ${name}`);
      const res = await fetch(endpoint, { method: 'POST', headers: { ...V6, 'Upload-Complete': '?0', Origin: 'https://app.example' } });
      const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase();
      for (const name of ['upload-complete', 'upload-limit', 'upload-draft-interop-version', 'location', 'upload-offset']) {
        t.ok(exposed.includes(name), `${name} exposed`);
      }
      const options = await fetch(endpoint, { method: 'OPTIONS', headers: V6 });
      t.ok(options.status < 300);
      t.equal(options.headers.get('upload-draft-interop-version'), '6', 'OPTIONS answers in the IETF dialect');
    });
  });
}

t.test('authentication, ownership and Upload-Limit apply to IETF requests', async (t) => {
  const tokens = { alice: randomBytes(16).toString('hex'), bob: randomBytes(16).toString('hex') };
  const hash = (token: string) => createHash('sha256').update(token).digest('hex');
  const app = await startAppFor(t, {
    AUTH_STATIC_TOKENS: `alice:${hash(tokens.alice)},bob:${hash(tokens.bob)}`,
    FILES_MAX_UPLOAD_SIZE: '1mb',
  });
  const endpoint = `${app.url}/files/`;
  const as = (who: keyof typeof tokens) => ({ Authorization: `Bearer ${tokens[who]}` });
  const anonymous = await fetch(endpoint, { method: 'POST', headers: { ...V6, 'Upload-Complete': '?0' } });
  t.equal(anonymous.status, 401, 'no token, no upload');
  const created = await fetch(endpoint, {
    method: 'POST',
    headers: { ...V6, ...as('alice'), 'Upload-Complete': '?0', 'Upload-Length': '5' },
  });
  t.equal(created.status, 201);
  t.equal(created.headers.get('upload-limit'), `max-size=${1024 * 1024}`, 'Upload-Limit names the maximum size');
  const url = locationOf(created, endpoint);
  const alices = await ietfHead(url, { ...V6, ...as('alice') });
  t.equal(alices.status, 200);
  t.equal(alices.headers.get('upload-limit'), `max-size=${1024 * 1024}`);
  const bobs = await ietfHead(url, { ...V6, ...as('bob') });
  t.equal(bobs.status, 404, "another subject's upload does not exist for them");
  const bobAppends = await fetch(url, {
    method: 'PATCH',
    headers: { ...V6, ...as('bob'), 'Upload-Offset': '0', 'Upload-Complete': '?1', 'Content-Type': 'application/partial-upload' },
    body: 'hello',
  });
  t.equal(bobAppends.status, 404);
  const tooBig = await fetch(endpoint, {
    method: 'POST',
    headers: { ...V6, ...as('alice'), 'Upload-Complete': '?0', 'Upload-Length': String(2 * MiB) },
  });
  t.equal(tooBig.status, 413, 'an upload over FILES_MAX_UPLOAD_SIZE is refused');
});

t.test('hooks and metrics see IETF uploads as they see tus ones', async (t) => {
  const secret = 'ietf-hook-secret-3f9a0c';
  const receiver = await HookReceiver.start(secret);
  const app = await startApp({
    HOOKS_HTTP_URL: receiver.url,
    HOOKS_HTTP_SECRET: secret,
    HOOKS_ENABLED_EVENTS: 'pre-create,post-create,post-finish',
  });
  t.teardown(async () => {
    await app.close();
    await receiver.close();
  });
  const endpoint = `${app.url}/files/`;
  // pre-create refuses uploads without a filename, as an application would.
  receiver.respond = (hook) =>
    hook.type === 'pre-create' && !hook.body.Event.Upload.MetaData.filename
      ? { body: { RejectUpload: true, HTTPResponse: { StatusCode: 422, Body: 'a filename is required' } } }
      : {};
  const created = () => metric(app.url, 'tus_uploads_total{event="created",location="local"}');
  const before = await created();
  const refused = await fetch(endpoint, { method: 'POST', headers: { ...V6, 'Upload-Complete': '?1' }, body: 'hello' });
  t.equal(refused.status, 422, 'pre-create refused the IETF upload');
  t.equal(await refused.text(), 'a filename is required');
  t.equal(refused.headers.get('location'), null, 'nothing created');
  const named = await fetch(endpoint, {
    method: 'POST',
    headers: { ...V6, 'Upload-Complete': '?1', 'Upload-Metadata': `filename ${Buffer.from('hi.txt').toString('base64')}` },
    body: 'hello',
  });
  t.equal(named.status, 201);
  const id = idOf(locationOf(named, endpoint));
  await until(() => receiver.of('post-finish').length === 1, 'post-finish delivered');
  const finished = receiver.of('post-finish')[0];
  t.equal(finished?.body.Event.Upload.ID, id, 'post-finish names the IETF upload');
  t.equal(finished?.body.Event.Upload.Size, 5, 'with its size');
  t.equal(receiver.of('post-create').length, 1, 'post-create once (not for the refused one)');
  t.equal((await created()) - before, 1, 'tus_uploads_total{event="created"} counted it');
});
