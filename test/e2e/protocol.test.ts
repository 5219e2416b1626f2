/** Every tus 1.0.0 rule and extension over real HTTP, on every driver (local, S3, Azure). */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { crc32 } from 'node:zlib';
import t from 'tap';
import { b64, createUpload, head, patch, startApp, startAppFor, TUS } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { everyDriver } from '../helpers/drivers.js';
import { MiB } from '../helpers/sizes.js';
import { metric, until } from '../helpers/wait.js';

const OCTET = { 'Content-Type': 'application/offset+octet-stream' };

const digest = (algorithm: string, data: Buffer) => {
  if (algorithm !== 'crc32') return createHash(algorithm).update(data).digest('base64');
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(data) >>> 0);
  return out.toString('base64');
};

const locations = everyDriver('protocol');

/**
 * A request whose body goes without Content-Length (chunked, in pieces of 64 KiB at most).
 * An answer that comes before the whole body was sent ends the sending.
 */
async function chunked(
  url: string,
  method: string,
  headers: Record<string, string>,
  data: Buffer,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const req = httpRequest(url, { method, headers: { ...TUS, ...OCTET, 'Transfer-Encoding': 'chunked', ...headers } });
  const answered = new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }>(
    (resolve, reject) => {
      req.once('error', reject);
      req.once('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      });
    },
  );
  let done = false;
  answered.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  for (let at = 0; at < data.length && !done; at += 64 * 1024) {
    if (!req.write(data.subarray(at, at + 64 * 1024))) await Promise.race([once(req, 'drain'), answered.catch(() => undefined)]);
  }
  if (!done) req.end();
  return answered;
}

for (const [name, env] of locations) {
  t.test(`protocol on the ${name} location`, async (t) => {
    const app = await startAppFor(t, { ...env(), FILES_MAX_UPLOAD_SIZE: '1gb' });
    const base = app.url;
    const files = `${base}/files/`;

    t.test('OPTIONS: 204 with Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm', async (t) => {
      const res = await fetch(files, { method: 'OPTIONS' });
      t.equal(res.status, 204);
      t.equal(res.headers.get('tus-version'), '1.0.0');
      t.same(res.headers.get('tus-extension')?.split(',').sort(), [
        'checksum',
        'checksum-trailer',
        'concatenation',
        'concatenation-unfinished',
        'creation',
        'creation-defer-length',
        'creation-with-upload',
        'expiration',
        'termination',
      ]);
      t.equal(res.headers.get('tus-max-size'), String(1024 * MiB));
      t.equal(res.headers.get('tus-checksum-algorithm'), 'sha1,md5,sha256,crc32');
    });

    t.test('every response but OPTIONS carries Tus-Resumable', async (t) => {
      const url = await createUpload(base, 3);
      for (const res of [
        await head(url),
        await patch(url, 0, Buffer.from('abc')),
        await patch(url, 1, Buffer.from('x')),
        await fetch(url, { method: 'DELETE', headers: TUS }),
      ]) {
        t.equal(res.headers.get('tus-resumable'), '1.0.0', `${res.status}`);
      }
    });

    t.test(
      'PATCH: 415 for a wrong or missing Content-Type, 400 for a missing or invalid Upload-Offset, 409 with the current offset',
      async (t) => {
        const url = await createUpload(base, 10);
        for (const type of [undefined, 'application/octet-stream', 'text/plain']) {
          const res = await fetch(url, {
            method: 'PATCH',
            headers: { ...TUS, 'Upload-Offset': '0', ...(type ? { 'Content-Type': type } : {}) },
            body: 'abc',
          });
          t.equal(res.status, 415, `Content-Type ${type}`);
        }
        const missing = await fetch(url, { method: 'PATCH', headers: { ...TUS, ...OCTET }, body: 'abc' });
        t.equal(missing.status, 400);
        t.match(await missing.text(), /Upload-Offset/);
        for (const offset of ['-1', 'abc', '1.5', '']) {
          const res = await fetch(url, { method: 'PATCH', headers: { ...TUS, ...OCTET, 'Upload-Offset': offset }, body: 'abc' });
          t.equal(res.status, 400, `Upload-Offset ${JSON.stringify(offset)}`);
        }
        await patch(url, 0, Buffer.from('abc'));
        const conflict = await patch(url, 1, Buffer.from('x'));
        t.equal(conflict.status, 409);
        t.equal(conflict.headers.get('upload-offset'), '3', '409 tells the current offset');
        t.equal((await head(url)).headers.get('upload-offset'), '3');
      },
    );

    t.test('data beyond Upload-Length: 413, nothing stored past the length', async (t) => {
      const url = await createUpload(base, 5);
      t.equal((await patch(url, 0, Buffer.from('abcdefgh'))).status, 413);
      t.equal((await head(url)).headers.get('upload-offset'), '0');
      t.equal((await fetch(files, { method: 'POST', headers: { ...TUS, 'Upload-Length': String(1024 * MiB + 1) } })).status, 413);
    });

    // A chunked body longer than the upload: the bytes that fit are stored as they stream and
    // complete the upload, so the answer is the one of a PATCH that completes it (204, or 201),
    // never a 413 about an upload that is stored whole; the excess is left unread and the
    // connection closed (issue 21, point 11).
    t.test('a chunked PATCH longer than Upload-Length: 204 at the length, the first bytes stored, the rest unread', async (t) => {
      const url = await createUpload(base, 10);
      const data = randomData(20);
      const res = await chunked(url, 'PATCH', { 'Upload-Offset': '0' }, data);
      t.equal(res.status, 204, res.text);
      t.equal(res.headers['upload-offset'], '10');
      t.equal(res.headers.connection, 'close', 'the excess is not read: the connection closes');
      t.equal((await head(url)).headers.get('upload-offset'), '10');
      const get = await fetch(url);
      t.equal(get.status, 200);
      t.same(Buffer.from(await get.arrayBuffer()), data.subarray(0, 10), 'exactly the first 10 bytes');
      const again = await chunked(url, 'PATCH', { 'Upload-Offset': '10' }, randomData(5));
      t.equal(again.status, 413, 'a complete upload takes nothing more');
      t.match(again.text, /The upload is complete \(10 bytes\): nothing of this body was stored/);
      t.equal((await head(url)).headers.get('upload-offset'), '10');
    });

    t.test('a chunked PATCH longer than what a partly filled upload still takes: 204, the bytes that fit', async (t) => {
      const url = await createUpload(base, 10);
      const first = randomData(4);
      t.equal((await patch(url, 0, first)).status, 204);
      const data = randomData(20);
      const res = await chunked(url, 'PATCH', { 'Upload-Offset': '4' }, data);
      t.equal(res.status, 204, res.text);
      t.equal(res.headers['upload-offset'], '10');
      t.equal((await head(url)).headers.get('upload-offset'), '10');
      t.same(Buffer.from(await (await fetch(url)).arrayBuffer()), Buffer.concat([first, data.subarray(0, 6)]));
    });

    t.test('a chunked creation-with-upload longer than its Upload-Length: 201 at the length', async (t) => {
      const data = randomData(20);
      const res = await chunked(files, 'POST', { 'Upload-Length': '10' }, data);
      t.equal(res.status, 201, res.text);
      t.equal(res.headers['upload-offset'], '10');
      const url = new URL(res.headers.location as string, base).toString();
      t.same(Buffer.from(await (await fetch(url)).arrayBuffer()), data.subarray(0, 10));
    });

    t.test('a chunked PATCH of 6 MiB to an upload of 5 MiB + 3 (parts sent while it streams): 204, the first bytes', async (t) => {
      const length = 5 * MiB + 3;
      const url = await createUpload(base, length);
      const data = randomData(6 * MiB);
      const res = await chunked(url, 'PATCH', { 'Upload-Offset': '0' }, data);
      t.equal(res.status, 204, res.text);
      t.equal((await head(url)).headers.get('upload-offset'), String(length));
      t.equal(sha256(Buffer.from(await (await fetch(url)).arrayBuffer())), sha256(data.subarray(0, length)));
    });

    t.test('malformed Upload-Metadata: 400', async (t) => {
      for (const metadata of [`a ${b64('x')},a ${b64('y')}`, 'a !!!notbase64', `a ${b64('x')}, ${b64('y')}`, `,a ${b64('x')}`]) {
        const res = await fetch(files, { method: 'POST', headers: { ...TUS, 'Upload-Length': '1', 'Upload-Metadata': metadata } });
        t.equal(res.status, 400, JSON.stringify(metadata));
      }
    });

    t.test('X-HTTP-Method-Override: a POST acts as PATCH, HEAD or DELETE, with the checks of the real method', async (t) => {
      const url = await createUpload(base, 6);
      const as = (method: string, headers: Record<string, string>, body?: string) =>
        fetch(url, { method: 'POST', headers: { 'X-HTTP-Method-Override': method, ...headers }, ...(body ? { body } : {}) });
      let res = await as('PATCH', { ...TUS, ...OCTET, 'Upload-Offset': '0' }, 'abc');
      t.equal(res.status, 204, 'PATCH');
      t.equal(res.headers.get('upload-offset'), '3');
      t.equal((await as('PATCH', { ...TUS, ...OCTET, 'Upload-Offset': '0' }, 'abc')).status, 409, 'a wrong offset: 409');
      t.equal((await as('PATCH', { ...TUS, 'Content-Type': 'text/plain', 'Upload-Offset': '3' }, 'def')).status, 415, 'a wrong type: 415');
      t.equal((await as('PATCH', { ...OCTET, 'Upload-Offset': '3' }, 'def')).status, 412, 'no Tus-Resumable: 412');
      res = await as('HEAD', TUS);
      t.equal(res.status, 200, 'HEAD');
      t.equal(res.headers.get('upload-offset'), '3');
      t.equal(res.headers.get('upload-length'), '6');
      t.equal(await res.text(), '', 'no body, as for HEAD');
      res = await as('PUT', TUS);
      t.equal(res.status, 400, 'an unknown method');
      t.match(await res.text(), /X-HTTP-Method-Override must be one of/);
      t.equal((await as('DELETE', TUS)).status, 204, 'DELETE');
      t.equal((await head(url)).status, 404, 'terminated');
    });

    t.test('creation-with-upload with a body that is not application/offset+octet-stream: 415, nothing created', async (t) => {
      const created = () => metric(base, `tus_uploads_total{event="created",location="${name}"}`);
      const before = await created();
      const res = await fetch(files, {
        method: 'POST',
        headers: { ...TUS, 'Upload-Length': '3', 'Content-Type': 'text/plain' },
        body: 'abc',
      });
      t.equal(res.status, 415);
      t.match(await res.text(), /needs "Content-Type: application\/offset\+octet-stream", not "text\/plain"; nothing was created/);
      t.equal(res.headers.get('location'), null);
      t.equal(await created(), before, 'no upload was created');
      const bodiless = await fetch(files, { method: 'POST', headers: { ...TUS, 'Upload-Length': '3', 'Content-Type': 'text/plain' } });
      t.equal(bodiless.status, 201, 'a POST without a body ignores Content-Type (clients set defaults)');
    });

    t.test('checksum-trailer: a chunked PATCH carries Upload-Checksum in its trailer; mismatching or missing is 460', async (t) => {
      /** A chunked PATCH declaring `Trailer: Upload-Checksum`, sending `trailer` (or none) after the body. */
      const trailed = (url: string, offset: number, body: Buffer, trailer: string | undefined) =>
        new Promise<{ status: number; text: string }>((resolve, reject) => {
          const req = httpRequest(url, {
            method: 'PATCH',
            headers: { ...TUS, ...OCTET, 'Upload-Offset': String(offset), 'Transfer-Encoding': 'chunked', Trailer: 'Upload-Checksum' },
          });
          req.on('error', reject);
          req.on('response', (res) => {
            let text = '';
            res.on('data', (d: Buffer) => {
              text += d;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          });
          req.write(body.subarray(0, 1000));
          req.write(body.subarray(1000));
          if (trailer) req.addTrailers({ 'Upload-Checksum': trailer });
          req.end();
        });
      const data = randomData(6 * MiB + 3);
      const url = await createUpload(base, data.length * 2);
      const bad = Buffer.from(data);
      bad[5] = (bad[5] ?? 0) ^ 1;
      const mismatch = await trailed(url, 0, bad, `sha256 ${digest('sha256', data)}`);
      t.equal(mismatch.status, 460, 'a mismatching trailer');
      t.match(mismatch.text, /Upload-Checksum trailer/);
      const created = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
        const req = httpRequest(files, {
          method: 'POST',
          headers: { ...TUS, ...OCTET, 'Upload-Length': '3', 'Transfer-Encoding': 'chunked', Trailer: 'Upload-Checksum' },
        });
        req.on('error', reject);
        req.on('response', (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, location: res.headers.location });
        });
        req.write('abc');
        req.addTrailers({ 'Upload-Checksum': `sha1 ${digest('sha1', Buffer.from('abd'))}` });
        req.end();
      });
      t.same(created, { status: 460, location: undefined }, 'a creation POST with a mismatching trailer: 460, nothing created');
      const missing = await trailed(url, 0, data, undefined);
      t.equal(missing.status, 460, 'a declared trailer that never arrives');
      t.match(missing.text, /never arrived/);
      t.equal((await head(url)).headers.get('upload-offset'), '0', 'nothing stored');
      for (const [offset, algorithm] of [
        [0, 'sha1'],
        [data.length, 'crc32'],
      ] as const) {
        const ok = await trailed(url, offset, data, `${algorithm} ${digest(algorithm, data)}`);
        t.equal(ok.status, 204, `a matching ${algorithm} trailer`);
      }
      t.equal((await head(url)).headers.get('upload-offset'), String(data.length * 2));
      t.equal(sha256(Buffer.from(await (await fetch(url)).arrayBuffer())), sha256(Buffer.concat([data, data])));
    });

    t.test('pipelined requests on one connection are handled in order, each after the one before', async (t) => {
      const url = new URL(await createUpload(base, 6));
      const request = (method: string, extra = '', body = '') =>
        `${method} ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nTus-Resumable: 1.0.0\r\n${extra}${body ? `Content-Length: ${body.length}\r\n` : ''}\r\n${body}`;
      const octet = 'Content-Type: application/offset+octet-stream\r\n';
      const pipelined = [
        request('HEAD'),
        request('PATCH', `Upload-Offset: 0\r\n${octet}`, 'abc'),
        request('HEAD'),
        request('PATCH', `Upload-Offset: 3\r\n${octet}`, 'def'),
        request('HEAD'),
      ].join('');
      const answers = await new Promise<string[]>((resolve, reject) => {
        const socket = connect(Number(url.port), url.hostname, () => socket.write(pipelined));
        let text = '';
        socket.on('data', (d: Buffer) => {
          text += d;
          const parts = text.split('HTTP/1.1 ').slice(1);
          if (parts.length === 5 && /\r\n\r\n/.test(parts[4] ?? '')) {
            socket.end();
            resolve(parts.map((r) => `${r.split(' ')[0]} ${/upload-offset: (\d+)/i.exec(r)?.[1]}`));
          }
        });
        socket.on('error', reject);
      });
      t.same(answers, ['200 0', '204 3', '200 3', '204 6', '200 6']);
    });

    t.test('a duplicated Content-Type: the first counts, on both drivers alike', async (t) => {
      const send = (url: string, types: string[]) =>
        new Promise<number>((resolve, reject) => {
          const req = httpRequest(url, {
            method: 'PATCH',
            headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': types, 'Content-Length': '3' },
          });
          req.on('error', reject);
          req.on('response', (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.end('abc');
        });
      const first = await createUpload(base, 3);
      t.equal(await send(first, ['application/offset+octet-stream', 'text/plain']), 204, 'offset+octet-stream first: stored');
      t.equal((await head(first)).headers.get('upload-offset'), '3');
      const second = await createUpload(base, 3);
      t.equal(await send(second, ['text/plain', 'application/offset+octet-stream']), 415, 'another type first: 415');
      t.equal((await head(second)).headers.get('upload-offset'), '0');
    });

    t.test('an empty Upload-Metadata means no metadata (tus-py-client sends one)', async (t) => {
      for (const metadata of ['', ' ']) {
        const res = await fetch(files, { method: 'POST', headers: { ...TUS, 'Upload-Length': '1', 'Upload-Metadata': metadata } });
        t.equal(res.status, 201, JSON.stringify(metadata));
        const url = new URL(res.headers.get('location') as string, base).toString();
        const h = await head(url);
        t.equal(h.status, 200);
        t.equal(h.headers.get('upload-metadata'), null, 'HEAD shows no metadata');
      }
    });

    t.test('unknown ids: 404', async (t) => {
      t.equal((await head(`${files}ffffffffffffffffffffffffffffffff`)).status, 404);
    });

    t.test('creation-with-upload: body on POST, Upload-Offset in the 201', async (t) => {
      const data = randomData(1000);
      const res = await fetch(files, {
        method: 'POST',
        headers: { ...TUS, ...OCTET, 'Upload-Length': '1500' },
        body: data as unknown as BodyInit,
      });
      t.equal(res.status, 201);
      t.equal(res.headers.get('upload-offset'), '1000');
      t.ok(res.headers.get('upload-expires'), 'Upload-Expires on an unfinished upload');
      const url = new URL(res.headers.get('location') as string, base).toString();
      t.equal((await patch(url, 1000, randomData(500))).status, 204);
    });

    t.test('creation-defer-length: a chunked body beyond the maximum upload size is refused with 413', async (t) => {
      const small = await startApp({ ...env(), FILES_MAX_UPLOAD_SIZE: '1mb' });
      t.teardown(() => small.close());
      const url = await createUpload(small.url, 'deferred');
      const res = await fetch(url, {
        method: 'PATCH',
        headers: { ...TUS, ...OCTET, 'Upload-Offset': '0' },
        body: new Blob([new Uint8Array(randomData(MiB + 10))]).stream(),
        duplex: 'half',
      } as RequestInit);
      t.equal(res.status, 413);
      t.match(await res.text(), /may not grow past \d+ bytes \(the largest upload allowed\)/, 'says what was stored');
      const offset = Number((await head(url)).headers.get('upload-offset'));
      t.ok(offset <= MiB, `offset ${offset} within the maximum`);
    });

    t.test('creation-defer-length: length set by a later PATCH, never changed after', async (t) => {
      const url = await createUpload(base, 'deferred');
      const h = await head(url);
      t.equal(h.headers.get('upload-defer-length'), '1');
      t.equal(h.headers.get('upload-length'), null);
      t.equal((await patch(url, 0, Buffer.from('hello '))).status, 204);
      const last = await patch(url, 6, Buffer.from('world'), { 'Upload-Length': '11' });
      t.equal(last.status, 204);
      t.equal((await head(url)).headers.get('upload-length'), '11');
      const change = await patch(url, 11, Buffer.alloc(0), { 'Upload-Length': '12' });
      t.equal(change.status, 400, 'the length cannot change');
      t.match(await change.text(), /the length is set once, on an upload created with Upload-Defer-Length: 1/);
      const both = await fetch(files, { method: 'POST', headers: { ...TUS, 'Upload-Length': '1', 'Upload-Defer-Length': '1' } });
      t.equal(both.status, 400);
      t.match(await both.text(), /either Upload-Length or Upload-Defer-Length: 1, not both/);
      const neither = await fetch(files, { method: 'POST', headers: TUS });
      t.equal(neither.status, 400);
      t.match(await neither.text(), /Upload-Length \(or Upload-Defer-Length: 1 when the length is not known yet\) is required/);
      t.equal(await (await fetch(url)).text(), 'hello world');
    });

    t.test('termination: DELETE of unfinished and finished uploads', async (t) => {
      const url = await createUpload(base, 10);
      t.equal((await fetch(url, { method: 'DELETE', headers: TUS })).status, 204);
      t.equal((await head(url)).status, 404);
      const done = await createUpload(base, 1);
      await patch(done, 0, Buffer.from('x'));
      t.equal((await fetch(done, { method: 'DELETE', headers: TUS })).status, 204);
      t.equal((await head(done)).status, 404);
    });

    t.test('checksum: sha1, md5, sha256, crc32; a mismatch is 460 and changes nothing; unknown algorithm 400', async (t) => {
      const data = randomData(6 * MiB + 5);
      const url = await createUpload(base, data.length * 4);
      let offset = 0;
      for (const algorithm of ['sha1', 'md5', 'sha256', 'crc32']) {
        const bad = Buffer.from(data);
        bad[100] = (bad[100] ?? 0) ^ 1;
        const mismatch = await patch(url, offset, bad, { 'Upload-Checksum': `${algorithm} ${digest(algorithm, data)}` });
        t.equal(mismatch.status, 460, `${algorithm} mismatch`);
        t.equal((await head(url)).headers.get('upload-offset'), String(offset), 'offset unchanged');
        const ok = await patch(url, offset, data, { 'Upload-Checksum': `${algorithm} ${digest(algorithm, data)}` });
        t.equal(ok.status, 204, `${algorithm} match`);
        offset += data.length;
        t.equal(ok.headers.get('upload-offset'), String(offset));
      }
      const whole = Buffer.concat([data, data, data, data]);
      t.equal(sha256(Buffer.from(await (await fetch(url)).arrayBuffer())), sha256(whole), 'stored bytes are exactly the verified bodies');
      const unknown = await patch(url, 0, Buffer.from('x'), { 'Upload-Checksum': 'sha512 AAAA' });
      t.equal(unknown.status, 400);
      t.match(await unknown.text(), /not supported; supported: sha1, md5, sha256, crc32/);
      t.equal((await patch(url, 0, Buffer.from('x'), { 'Upload-Checksum': 'sha1' })).status, 400, 'malformed header');

      // Well-formed digests of the wrong length cannot match: 460, nothing stored.
      const small = await createUpload(base, 10);
      for (const [algorithm, bytes] of [
        ['sha1', 21],
        ['sha256', 4],
      ] as const) {
        const res = await patch(small, 0, Buffer.from('hello'), {
          'Upload-Checksum': `${algorithm} ${randomData(bytes).toString('base64')}`,
        });
        t.equal(res.status, 460, `a ${bytes}-byte "${algorithm}" digest`);
        t.match(await res.text(), new RegExp(`the digest sent has ${bytes} bytes`));
        t.equal((await head(small)).headers.get('upload-offset'), '0', 'nothing stored');
      }
    });

    t.test('concatenation: partials (below and above 5 MiB) into a final upload', async (t) => {
      const sizes = [1000, 6 * MiB + 1, 3 * MiB, 5 * MiB, 0, 7];
      const parts = sizes.map((s) => randomData(s));
      const urls: string[] = [];
      for (const data of parts) {
        const made = await fetch(files, {
          method: 'POST',
          headers: { ...TUS, 'Upload-Length': String(data.length), 'Upload-Concat': 'partial' },
        });
        t.equal(made.headers.get('upload-concat'), 'partial', 'the 201 repeats the Upload-Concat it created');
        const url = new URL(made.headers.get('location') as string, base).toString();
        if (data.length > 0) t.equal((await patch(url, 0, data)).status, 204);
        t.equal((await head(url)).headers.get('upload-concat'), 'partial');
        urls.push(url);
      }
      const count = (event: string) => metric(base, `tus_uploads_total{event="${event}",location="${name}"}`);
      const [createdBefore, finishedBefore] = [await count('created'), await count('finished')];
      const res = await fetch(files, {
        method: 'POST',
        headers: {
          ...TUS,
          'Upload-Concat': `final;${urls.map((u) => new URL(u).pathname).join(' ')}`,
          'Upload-Metadata': `filename ${b64('all.bin')}`,
        },
      });
      t.equal(res.status, 201, await res.clone().text());
      const final = new URL(res.headers.get('location') as string, base).toString();
      t.equal(res.headers.get('upload-concat'), `final;${urls.map((u) => new URL(u).pathname).join(' ')}`, 'the 201 repeats Upload-Concat');
      t.equal(await count('created'), createdBefore + 1, 'the final upload fires the created event (metrics, hooks)');
      t.equal(await count('finished'), finishedBefore + 1, 'and the finished event');
      const h = await head(final);
      t.equal(h.headers.get('upload-length'), String(sizes.reduce((a, b) => a + b)));
      t.equal(h.headers.get('upload-offset'), h.headers.get('upload-length'));
      t.equal(h.headers.get('upload-concat'), `final;${urls.map((u) => new URL(u).pathname).join(' ')}`, 'HEAD repeats the relative URLs');
      t.equal(h.headers.get('upload-metadata'), `filename ${b64('all.bin')}`, 'the reserved mark is not shown as metadata');
      const body = Buffer.from(await (await fetch(final)).arrayBuffer());
      t.equal(sha256(body), sha256(Buffer.concat(parts)));
      t.equal((await patch(final, Number(h.headers.get('upload-offset')), Buffer.alloc(0))).status, 403, 'PATCH to a final upload refused');
      t.equal((await patch(final, 0, Buffer.from('x'))).status, 403, 'whatever its offset');
      // Absolute URLs stay absolute on HEAD (new partials: each partial goes into one final upload, TUS_CONCAT_MAX_USES).
      const fresh: string[] = [];
      for (const text of ['ab', 'cd']) {
        fresh.push(await createUpload(base, text.length, { 'Upload-Concat': 'partial' }));
        t.equal((await patch(fresh.at(-1) as string, 0, Buffer.from(text))).status, 204);
      }
      const absolute = await fetch(files, { method: 'POST', headers: { ...TUS, 'Upload-Concat': `final;${fresh[0]} ${fresh[1]}` } });
      t.equal(absolute.status, 201);
      const absoluteHead = await head(new URL(absolute.headers.get('location') as string, base).toString());
      t.equal(absoluteHead.headers.get('upload-concat'), `final;${fresh[0]} ${fresh[1]}`, 'as the client sent them');

      const notPartial = await createUpload(base, 0);
      for (const [list, why] of [
        [[notPartial], /not a partial upload/],
        [[`${files}0123456789abcdef0123456789abcdef`], /does not exist/],
      ] as const) {
        const r = await fetch(files, { method: 'POST', headers: { ...TUS, 'Upload-Concat': `final;${list.join(' ')}` } });
        t.equal(r.status, 400);
        t.match(await r.text(), why);
      }
    });

    t.test('concatenation-unfinished: a final upload created before its partials finish is assembled by the last one', async (t) => {
      const data = [randomData(6 * MiB + 1), randomData(1000), randomData(3 * MiB)];
      const p1 = await createUpload(base, data[0]!.length, { 'Upload-Concat': 'partial' });
      const p2 = await createUpload(base, 'deferred', { 'Upload-Concat': 'partial' });
      const p3 = await createUpload(base, data[2]!.length, { 'Upload-Concat': 'partial' });
      const res = await fetch(files, { method: 'POST', headers: { ...TUS, 'Upload-Concat': `final;${p1} ${p2} ${p3}` } });
      t.equal(res.status, 201, await res.clone().text());
      t.equal(res.headers.get('upload-offset'), '0');
      const final = new URL(res.headers.get('location') as string, base).toString();
      const state = async () => {
        const h = await head(final);
        return {
          offset: Number(h.headers.get('upload-offset')),
          length: h.headers.get('upload-length'),
          concat: h.headers.get('upload-concat'),
        };
      };
      t.same(await state(), { offset: 0, length: null, concat: `final;${p1} ${p2} ${p3}` }, 'no length while a partial length is deferred');
      t.equal((await patch(p3, 0, data[2]!)).status, 204, 'the last listed partial finishes first');
      t.equal((await state()).offset, 0, 'nothing readable from the start yet');
      t.equal((await patch(p1, 0, data[0]!.subarray(0, 3 * MiB))).status, 204);
      t.equal((await state()).offset, 3 * MiB, 'the offset grows as the first partial receives');
      t.equal((await patch(p1, 3 * MiB, data[0]!.subarray(3 * MiB))).status, 204);
      t.equal((await patch(p2, 0, data[1]!.subarray(0, 500))).status, 204);
      t.same(await state(), { offset: data[0]!.length + 500, length: null, concat: `final;${p1} ${p2} ${p3}` });
      t.equal((await patch(final, 0, Buffer.from('x'))).status, 403, 'PATCH to a waiting final upload is refused');
      t.equal((await patch(p2, 500, data[1]!.subarray(500), { 'Upload-Length': '1000' })).status, 204, 'the middle partial finishes last');
      const total = data.reduce((sum, d) => sum + d.length, 0);
      await until(async () => (await state()).offset === total, 'the final upload to be assembled', 30_000);
      t.equal((await state()).length, String(total));
      t.equal(
        sha256(Buffer.from(await (await fetch(final)).arrayBuffer())),
        sha256(Buffer.concat(data)),
        'assembled without a client request',
      );
      t.equal((await head(p2)).headers.get('upload-metadata'), null, 'the reserved marks are not shown');
    });

    t.test(
      'concatenation-unfinished never cuts off a partial still receiving (creating the final, finishing another partial)',
      async (t) => {
        const small = await createUpload(base, 3, { 'Upload-Concat': 'partial' });
        const bigData = randomData(2 * MiB);
        const big = new URL(await createUpload(base, bigData.length, { 'Upload-Concat': 'partial' }));
        // The big partial's PATCH sends its body slowly; the rest happens while it is in flight.
        const sending = new Promise<{ status: number; offset: string | undefined }>((resolve, reject) => {
          const req = httpRequest(big, {
            method: 'PATCH',
            headers: { ...TUS, ...OCTET, 'Upload-Offset': '0', 'Content-Length': String(bigData.length) },
          });
          req.on('error', reject);
          req.on('response', (res) => {
            res.resume();
            resolve({ status: res.statusCode ?? 0, offset: res.headers['upload-offset'] as string | undefined });
          });
          let sent = 0;
          const pump = () => {
            if (sent >= bigData.length) return req.end();
            req.write(bigData.subarray(sent, sent + 64 * 1024), () => {
              sent += 64 * 1024;
              setTimeout(pump, 40);
            });
          };
          pump();
        });
        const res = await fetch(files, { method: 'POST', headers: { ...TUS, 'Upload-Concat': `final;${small} ${big}` } });
        t.equal(res.status, 201);
        t.equal((await patch(small, 0, Buffer.from('abc'))).status, 204, 'the small partial finishes first');
        t.same(await sending, { status: 204, offset: String(bigData.length) }, 'the big partial received its whole body');
        const final = new URL(res.headers.get('location') as string, base).toString();
        t.equal(sha256(Buffer.from(await (await fetch(final)).arrayBuffer())), sha256(Buffer.concat([Buffer.from('abc'), bigData])));
      },
    );

    t.test('a pipelined request behind an answer that closed the connection is not run', async (t) => {
      const url = new URL(await createUpload(base, 6));
      const request = (method: string, extra = '', body = '') =>
        `${method} ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nTus-Resumable: 1.0.0\r\n${extra}${body ? `Content-Length: ${body.length}\r\n` : ''}\r\n${body}`;
      const octet = 'Content-Type: application/offset+octet-stream\r\n';
      const text = await new Promise<string>((resolve) => {
        const socket = connect(Number(url.port), url.hostname, () =>
          socket.write(request('PATCH', `Upload-Offset: 5\r\n${octet}`, 'abc') + request('PATCH', `Upload-Offset: 0\r\n${octet}`, 'abc')),
        );
        let out = '';
        socket.on('data', (d: Buffer) => {
          out += d;
        });
        socket.on('close', () => resolve(out));
        socket.on('error', () => resolve(out));
      });
      t.match(text, /^HTTP\/1.1 409/, 'the first is answered 409');
      t.equal(text.split('HTTP/1.1 ').length - 1, 1, 'and the connection closed after it');
      t.equal((await head(url.toString())).headers.get('upload-offset'), '0', 'the request behind it stored nothing');
    });

    t.test('GET: bytes, headers, Range, 404 unknown, 400 unfinished', async (t) => {
      const data = randomData(300_000);
      const url = await createUpload(base, data.length, {
        'Upload-Metadata': `filename ${b64('photo é.png')},filetype ${b64('image/png')}`,
      });
      t.equal((await fetch(url)).status, 400, 'unfinished');
      await patch(url, 0, data);
      const res = await fetch(url);
      t.equal(res.status, 200);
      t.equal(res.headers.get('content-type'), 'image/png');
      t.equal(res.headers.get('content-length'), String(data.length));
      t.equal(res.headers.get('content-disposition'), `inline; filename="photo ?.png"; filename*=UTF-8''photo%20%C3%A9.png`);
      t.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(data));
      const part = await fetch(url, { headers: { Range: 'bytes=1000-1999' } });
      t.equal(part.status, 206);
      t.equal(part.headers.get('content-range'), `bytes 1000-1999/${data.length}`);
      t.same(Buffer.from(await part.arrayBuffer()), data.subarray(1000, 2000));
      const suffix = await fetch(url, { headers: { Range: 'bytes=-10' } });
      t.same(Buffer.from(await suffix.arrayBuffer()), data.subarray(-10));
      t.equal((await fetch(url, { headers: { Range: `bytes=${data.length + 5}-` } })).status, 416);
      t.equal((await fetch(`${files}0123456789abcdef0123456789abcdef`)).status, 404);
      const html = await createUpload(base, 4, { 'Upload-Metadata': `filename ${b64('x.html')},filetype ${b64('text/html')}` });
      await patch(html, 0, Buffer.from('<b>'));
      await patch(html, 3, Buffer.from('!'));
      t.match((await fetch(html)).headers.get('content-disposition'), /^attachment;/, 'HTML downloads, never renders inline');
    });
  });
}

t.test('expiration: Upload-Expires, 410 once expired, cleanup from the command line', async (t) => {
  const app = await startAppFor(t, { TUS_UPLOAD_EXPIRATION: '1500ms', TUS_CLEANUP_SCHEDULE: 'off' });
  const url = await createUpload(app.url, 10);
  const res = await patch(url, 0, Buffer.from('abc'));
  const expires = res.headers.get('upload-expires');
  t.ok(expires && !Number.isNaN(Date.parse(expires)), `RFC 9110 date: ${expires}`);
  t.ok(Date.parse(expires as string) - Date.now() <= 1500, 'within the expiration');
  // Poll HEAD until the upload stops answering 200, within a deadline: it must then be 410, not before Upload-Expires.
  const statuses = [(await head(url)).status];
  t.equal(statuses[0], 200, 'not expired right after the PATCH');
  const deadline = Date.now() + 6000;
  while (statuses.at(-1) === 200 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    statuses.push((await head(url)).status);
  }
  t.equal(statuses.at(-1), 410, `expired: HEAD answered ${[...new Set(statuses)].join(' then ')}`);
  t.ok(Date.now() >= Date.parse(expires as string), 'not before Upload-Expires');
  t.equal((await patch(url, 3, Buffer.from('d'))).status, 410);
});

t.test('DELETE of finished uploads can be turned off; GET can be turned off', async (t) => {
  const app = await startAppFor(t, { TUS_TERMINATE_FINISHED: 'false', TUS_DOWNLOAD_ENABLED: 'false' });
  const url = await createUpload(app.url, 1);
  await patch(url, 0, Buffer.from('x'));
  t.equal((await fetch(url, { method: 'DELETE', headers: TUS })).status, 400);
  t.equal((await head(url)).status, 200);
  const get = await fetch(url);
  t.equal(get.status, 404);
  t.match(await get.text(), /TUS_DOWNLOAD_ENABLED=false/);
});

t.test('TUS_CLEANUP_SCHEDULE removes expired uploads on its own', async (t) => {
  const app = await startAppFor(t, { TUS_UPLOAD_EXPIRATION: '1s', TUS_CLEANUP_SCHEDULE: '* * * * * *' });
  const url = await createUpload(app.url, 10);
  await patch(url, 0, Buffer.from('abc'));
  const id = url.split('/').pop() as string;
  const { readdir } = await import('node:fs/promises');
  const deadline = Date.now() + 6000;
  while (Date.now() < deadline && (await readdir(app.root)).includes(id)) await new Promise((r) => setTimeout(r, 250));
  t.notOk((await readdir(app.root)).includes(id), 'the expired upload was removed by the schedule');
});
