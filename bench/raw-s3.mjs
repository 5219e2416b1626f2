// The cheapest direct upload a client could do, the benchmark's ceiling: raw SigV4-signed S3
// requests on node:http with a keep-alive agent, `x-amz-content-sha256: UNSIGNED-PAYLOAD`
// (no hashing of the body, as our streamed parts), bodies streamed from the caller's generator.
// CreateMultipartUpload / UploadPart (N in flight) / CompleteMultipartUpload, or one PutObject.
import { createHash, createHmac } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';

/** The hash SignatureV4 wants (an @smithy `Checksum`), on node:crypto. */
class Sha256 {
  constructor(secret) {
    this.hash = secret ? createHmac('sha256', secret) : createHash('sha256');
  }
  update(data) {
    this.hash.update(data);
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}

/**
 * A raw S3 client for one endpoint: `{ endpoint, region, key, secret, bucket }`.
 * `endpoint` may differ from the real S3's (the latency proxy in front of it).
 */
export function rawS3({ endpoint, region, key, secret, bucket }) {
  const url = new URL(endpoint);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  const signer = new SignatureV4({
    service: 's3',
    region,
    credentials: { accessKeyId: key, secretAccessKey: secret },
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const host = url.port ? `${url.hostname}:${url.port}` : url.hostname;

  /**
   * One signed request; `body` an iterable (or async iterable) of Buffers of `length` bytes in
   * all (or undefined).
   * `ok`: the expected status; `binary`: the answer's body is data (`data`), not XML to check.
   */
  async function send(method, objectKey, query, { body, length = 0, ok = 200, binary = false } = {}) {
    const path = `/${bucket}/${objectKey.split('/').map(encodeURIComponent).join('/')}`;
    const signed = await signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path,
      query,
      headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(length) },
    });
    const search = Object.entries(query)
      .map(([k, v]) => (v === '' ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`))
      .join('&');
    const req = http.request({
      method,
      host: url.hostname,
      port: url.port || 80,
      path: search ? `${path}?${search}` : path,
      headers: signed.headers,
      agent,
    });
    const answer = once(req, 'response');
    answer.catch(() => {});
    if (body?.[Symbol.asyncIterator]) {
      // A body still arriving (the floor's parts): the request fails with it.
      try {
        for await (const chunk of body) if (!req.write(chunk)) await Promise.race([once(req, 'drain'), answer]);
      } catch (error) {
        req.destroy(error);
        throw error;
      }
    } else if (body) {
      for (const chunk of body) if (!req.write(chunk)) await Promise.race([once(req, 'drain'), answer]);
    }
    req.end();
    const [res] = await answer;
    const chunks = [];
    for await (const c of res) chunks.push(c);
    const data = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    const text = binary && res.statusCode === ok ? '' : data.toString('utf8');
    if (res.statusCode !== ok || text.includes('<Error>')) {
      throw new Error(`raw S3 ${method} ${objectKey}: ${res.statusCode} ${text.slice(0, 300)}`);
    }
    return { headers: res.headers, text, data };
  }

  return {
    async createMultipart(objectKey) {
      const { text } = await send('POST', objectKey, { uploads: '' });
      const id = /<UploadId>([^<]+)<\/UploadId>/.exec(text)?.[1];
      if (!id) throw new Error(`raw S3 CreateMultipartUpload: no UploadId in ${text.slice(0, 300)}`);
      return id;
    },
    async uploadPart(objectKey, uploadId, partNumber, body, length) {
      const { headers } = await send('PUT', objectKey, { partNumber: String(partNumber), uploadId }, { body, length });
      return headers.etag;
    },
    async complete(objectKey, uploadId, parts) {
      const xml = Buffer.from(
        `<CompleteMultipartUpload>${parts
          .map(({ PartNumber, ETag }) => `<Part><PartNumber>${PartNumber}</PartNumber><ETag>${ETag}</ETag></Part>`)
          .join('')}</CompleteMultipartUpload>`,
      );
      await send('POST', objectKey, { uploadId }, { body: [xml], length: xml.length });
    },
    async put(objectKey, body, length) {
      await send('PUT', objectKey, {}, { body, length });
    },
    /** The whole object, a Buffer. */
    async get(objectKey) {
      return (await send('GET', objectKey, {}, { binary: true })).data;
    },
    async delete(objectKey) {
      await send('DELETE', objectKey, {}, { ok: 204 });
    },
    close() {
      agent.destroy();
    },
  };
}

/**
 * Uploads `uploads` ({ key, size, body(start, end) -> iterable of Buffers }) as multipart uploads of
 * `partSize` parts, `inFlight` parts in flight over all of them, through `client` (rawS3).
 */
export async function rawMultipart(client, uploads, partSize, inFlight) {
  const ids = await Promise.all(uploads.map(({ key }) => client.createMultipart(key)));
  const tasks = [];
  uploads.forEach(({ key, size, body }, u) => {
    for (let n = 1, pos = 0; pos < size; n++, pos += partSize) {
      const start = pos;
      const end = Math.min(size, pos + partSize);
      const PartNumber = n;
      tasks.push(async () => ({ u, PartNumber, ETag: await client.uploadPart(key, ids[u], PartNumber, body(start, end), end - start) }));
    }
  });
  const parts = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, tasks.length) }, async () => {
      while (next < tasks.length) parts.push(await tasks[next++]());
    }),
  );
  await Promise.all(
    uploads.map(({ key }, u) =>
      client.complete(
        key,
        ids[u],
        parts.filter((p) => p.u === u).sort((x, y) => x.PartNumber - y.PartNumber),
      ),
    ),
  );
}
