// The floor: the least a correct Node tus-to-S3 relay must do, a reference target of the bench
// (issue 24). Plain node:http, no framework, the raw SigV4 requests of the ceiling
// (bench/raw-s3.mjs: UNSIGNED-PAYLOAD, no hashing of bodies), state in memory only (nothing on
// disk), and the tus 1.0.0 subset the bench's client sends: OPTIONS, POST (creation,
// creation-with-upload, creation-defer-length), PATCH, HEAD.
//
// What it does, no more:
// - a PATCH's body is cut into parts of FLOOR_PART_SIZE (the chunk size the bench gives our
//   server; larger when the length needs it to fit in 10,000 parts), each part an S3 UploadPart
//   streamed from its first byte (its size known from the request's Content-Length; without
//   one, a part leaves when full or at the body's end), FLOOR_IN_FLIGHT (16) parts in flight
//   over the whole server; the request is not read further while all slots are busy;
// - the multipart upload is created with the first part (an upload that fits in one part is
//   one PutObject);
// - a remainder below a part at the end of a PATCH (the upload not complete) is stored as an
//   object of its own, `<key>.tail-<part number>`, and the next PATCH reads it back and
//   continues that part from it;
// - the answer (Upload-Offset) only once S3 holds every part and the remainder; when the
//   offset reaches the length, the last (short) part and CompleteMultipartUpload first;
// - a failed or aborted PATCH leaves the offset where it was (parts re-sent later replace
//   theirs by number; a remainder's key names its part, so an older one is never overwritten
//   by a PATCH that did not succeed); the remainder a PATCH made stale is deleted after it.
// Objects: `${FLOOR_ROOT}<id>` (default bench/floor/<id>), byte-exact.
// Started by bench/run.mjs with S3_ENDPOINT, S3_REGION, S3_KEY, S3_SECRET, S3_BUCKET, PORT.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { rawS3 } from './raw-s3.mjs';

const env = process.env;
const MiB = 1024 * 1024;
const PART_SIZE = Number(env.FLOOR_PART_SIZE || 5 * MiB);
const IN_FLIGHT = Number(env.FLOOR_IN_FLIGHT || 16);
const ROOT = env.FLOOR_ROOT ?? 'bench/floor/';
const MAX_PARTS = 10_000;
const s3 = rawS3({ endpoint: env.S3_ENDPOINT, region: env.S3_REGION, key: env.S3_KEY, secret: env.S3_SECRET, bucket: env.S3_BUCKET });

/** id -> { key, length (undefined: deferred), offset, partSize, etags[partNumber], multipart (Promise of the UploadId), busy, done } */
const uploads = new Map();

// Parts in flight over the whole server: a slot per part, handed over in order.
let active = 0;
const waiting = [];
const slot = () => {
  if (active < IN_FLIGHT) {
    active++;
    return undefined;
  }
  return new Promise((resolve) => waiting.push(resolve));
};
const release = () => {
  const next = waiting.shift();
  if (next) next();
  else active--;
};

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Waits for all of `tasks`, then throws the first failure if any. */
async function settled(tasks) {
  await Promise.allSettled(tasks);
  for (const task of tasks) await task;
}

const partSizeFor = (length) => (length === undefined ? PART_SIZE : Math.max(PART_SIZE, Math.ceil(length / MAX_PARTS / MiB) * MiB));
const tailKey = (upload, partNumber) => `${upload.key}.tail-${partNumber}`;

/** Sets a deferred length (or checks a known one). */
function setLength(upload, length) {
  if (!Number.isSafeInteger(length) || length < upload.offset) throw new HttpError(400, 'bad Upload-Length');
  if (upload.length !== undefined && upload.length !== length) throw new HttpError(400, 'Upload-Length differs');
  if (length > upload.partSize * MAX_PARTS) throw new HttpError(413, 'too large for 10,000 parts');
  upload.length = length;
}

/** The bytes of one S3 object being written while they arrive: an async iterable for raw-s3's body. */
class Feed {
  chunks = [];
  done = false;
  error = undefined;
  wake = undefined;
  push(chunk) {
    this.chunks.push(chunk);
    this.wake?.();
  }
  end(error) {
    this.done = true;
    this.error = error;
    this.wake?.();
  }
  async *[Symbol.asyncIterator]() {
    for (;;) {
      if (this.error) throw this.error;
      if (this.chunks.length) {
        const batch = this.chunks;
        this.chunks = [];
        yield* batch;
      } else if (this.done) return;
      else await new Promise((resolve) => (this.wake = resolve));
    }
  }
}

/**
 * Reads `body` (a request) at the upload's offset into S3 objects as the bytes arrive: parts,
 * the last part, the remainder (`<key>.tail-<part>`) or, for an upload that fits in one part,
 * the object itself. Each starts (a slot of the FLOOR_IN_FLIGHT) when its first byte is there
 * and its size is known: at once when the request has a Content-Length, else when it is full or
 * the body ended. The offset moves once S3 holds them all (and the upload is completed).
 */
async function receive(upload, body, contentLength) {
  const P = upload.partSize;
  const start = upload.offset;
  const room = upload.length === undefined ? P * MAX_PARTS - start : upload.length - start;
  if (contentLength !== undefined && contentLength > room) throw new HttpError(413, 'body beyond the upload length');
  const completes = (end) => upload.length !== undefined && end === upload.length;
  const pending = [];
  /** Starts writing `object` ({ feed, number }) as `size` bytes from the start of its part. */
  const launch = (object, size) => {
    object.started = true;
    const end = (object.number - 1) * P + size;
    const write = async () => {
      if (size < P && completes(end) && object.number === 1) return s3.put(upload.key, object.feed, size);
      if (size < P && !completes(end)) return s3.put(tailKey(upload, object.number), object.feed, size);
      upload.multipart ??= s3.createMultipart(upload.key);
      const uploadId = await upload.multipart.catch((error) => {
        upload.multipart = undefined;
        throw error;
      });
      upload.etags[object.number] = await s3.uploadPart(upload.key, uploadId, object.number, object.feed, size);
    };
    const task = write().finally(release);
    task.catch(() => {});
    pending.push(task);
  };
  /** The object of part `number` opens (a slot), its first bytes `first`. */
  const open = async (number, first) => {
    await slot();
    const object = { feed: new Feed(), number, filled: 0, started: false };
    if (first) {
      object.feed.push(first);
      object.filled = first.length;
    }
    // With a Content-Length, the size is known now: the PUT starts before the bytes arrive.
    if (contentLength !== undefined) {
      const size = Math.min(P, start + contentLength - (number - 1) * P);
      if (size > 0 && (completes(start + contentLength) || (number - 1) * P + size > start)) launch(object, size);
    }
    return object;
  };
  let partNumber = Math.floor(start / P) + 1;
  let current;
  let received = 0;
  try {
    let tail;
    if (start % P > 0) {
      // A PATCH that failed after S3 took its remainder left a longer one: the same bytes first.
      tail = await s3.get(tailKey(upload, partNumber));
      if (tail.length < start % P) throw new Error(`remainder of ${tail.length} bytes, expected ${start % P}`);
      tail = tail.subarray(0, start % P);
    }
    current = await open(partNumber, tail);
    for await (let chunk of body) {
      received += chunk.length;
      if (received > room) throw new HttpError(413, 'body beyond the upload length');
      while (chunk.length) {
        current ??= await open(partNumber);
        const take = Math.min(chunk.length, P - current.filled);
        current.feed.push(take === chunk.length ? chunk : chunk.subarray(0, take));
        current.filled += take;
        chunk = chunk.subarray(take);
        if (current.filled === P) {
          if (!current.started) launch(current, P);
          current.feed.end();
          current = undefined;
          partNumber++;
        }
      }
    }
    if (contentLength !== undefined && received !== contentLength) throw new HttpError(400, 'body shorter than Content-Length');
  } catch (error) {
    // No write of this PATCH is left running when it answers.
    if (current?.started) current.feed.end(error);
    else if (current) release();
    await Promise.allSettled(pending);
    throw error;
  }
  const end = start + received;
  const complete = completes(end);
  if (current && !current.started) {
    // Without a Content-Length: the last object's size is known now (nothing new, nothing to write).
    const size = current.filled;
    if (size > 0 && (complete || (current.number - 1) * P + size > start)) launch(current, size);
    else if (complete && size === 0 && end === 0) launch(current, 0);
    else release();
  }
  current?.feed.end();
  await settled(pending);
  if (complete && upload.multipart) {
    const parts = [];
    for (let n = 1; n <= Math.ceil(upload.length / P); n++) {
      if (!upload.etags[n]) throw new Error(`part ${n} missing`);
      parts.push({ PartNumber: n, ETag: upload.etags[n] });
    }
    await s3.complete(upload.key, await upload.multipart, parts);
  }
  // Now S3 holds every byte up to `end`: move the offset; a remainder it replaced is stale.
  const before = Math.floor(start / P) + 1;
  const stale = start % P > 0 && (complete || Math.floor(end / P) + 1 !== before) ? tailKey(upload, before) : undefined;
  upload.offset = end;
  if (complete) {
    upload.done = true;
    upload.etags = [];
  }
  if (stale) s3.delete(stale).catch(() => {});
}

function tusHeaders(upload) {
  const headers = { 'Tus-Resumable': '1.0.0', 'Upload-Offset': String(upload.offset), 'Cache-Control': 'no-store' };
  if (upload.length === undefined) headers['Upload-Defer-Length'] = '1';
  else headers['Upload-Length'] = String(upload.length);
  return headers;
}

const numberHeader = (value) => (value === undefined ? undefined : /^\d+$/.test(value) ? Number(value) : Number.NaN);

async function handle(req, res) {
  const url = new URL(req.url, 'http://floor');
  if (req.method === 'OPTIONS') {
    res.writeHead(204, {
      'Tus-Resumable': '1.0.0',
      'Tus-Version': '1.0.0',
      'Tus-Extension': 'creation,creation-with-upload,creation-defer-length',
      'Tus-Max-Size': String(5 * 1024 * 1024 * MiB),
    });
    return res.end();
  }
  if (req.headers['tus-resumable'] !== '1.0.0') throw new HttpError(412, 'Tus-Resumable 1.0.0 wanted');
  const hasBody = req.headers['content-type'] === 'application/offset+octet-stream';
  const contentLength = numberHeader(req.headers['content-length']);
  if (req.method === 'POST' && (url.pathname === '/files' || url.pathname === '/files/')) {
    const id = randomBytes(16).toString('hex');
    const deferred = req.headers['upload-defer-length'] === '1';
    const length = numberHeader(req.headers['upload-length']);
    if (!deferred && length === undefined) throw new HttpError(400, 'Upload-Length or Upload-Defer-Length wanted');
    const upload = { key: `${ROOT}${id}`, length: undefined, offset: 0, partSize: partSizeFor(length), etags: [], busy: true, done: false };
    if (!deferred) setLength(upload, length);
    uploads.set(id, upload);
    try {
      if (hasBody || length === 0) await receive(upload, hasBody ? req : [], hasBody ? contentLength : 0);
    } catch (error) {
      if (upload.offset === 0) uploads.delete(id);
      throw error;
    } finally {
      upload.busy = false;
    }
    res.writeHead(201, { ...tusHeaders(upload), Location: `/files/${id}` });
    return res.end();
  }
  const upload = url.pathname.startsWith('/files/') ? uploads.get(url.pathname.slice(7)) : undefined;
  if (!upload) throw new HttpError(404, 'no such upload');
  if (req.method === 'HEAD') {
    res.writeHead(200, tusHeaders(upload));
    return res.end();
  }
  if (req.method !== 'PATCH') throw new HttpError(405, 'method not allowed');
  if (!hasBody) throw new HttpError(415, 'application/offset+octet-stream wanted');
  if (upload.busy) throw new HttpError(409, 'a PATCH of this upload is running');
  if (numberHeader(req.headers['upload-offset']) !== upload.offset) throw new HttpError(409, 'Upload-Offset mismatch');
  upload.busy = true;
  try {
    const length = numberHeader(req.headers['upload-length']);
    if (length !== undefined) setLength(upload, length);
    if (upload.done && contentLength) throw new HttpError(413, 'upload complete');
    if (!upload.done) await receive(upload, req, contentLength);
  } finally {
    upload.busy = false;
  }
  res.writeHead(204, tusHeaders(upload));
  res.end();
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((error) => {
    const status = error instanceof HttpError ? error.status : 500;
    if (status === 500) process.stderr.write(`floor: ${req.method} ${req.url}: ${error.stack ?? error}\n`);
    if (res.headersSent) return res.destroy();
    // The body may be unread: the connection is not reused.
    res.writeHead(status, { 'Tus-Resumable': '1.0.0', 'Content-Type': 'text/plain', Connection: 'close' });
    res.end(error.message);
  });
});
// A 1 GiB PATCH may take longer than Node's default request timeout (5 minutes) on a busy machine.
server.requestTimeout = 0;
server.listen(Number(env.PORT), env.HOST || '127.0.0.1');
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)) && server.closeAllConnections());
