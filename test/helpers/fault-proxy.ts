/**
 * A fault-injecting HTTP proxy between the server (its location's endpoint pointed at it) and
 * the S3 test server, or Azurite with the Azure dialect (test/helpers/fault-proxy-azure.ts).
 * Each request is classified by the storage's operation; rules the test sets (and changes at
 * runtime) answer 500 or 503 in the storage's own terms without forwarding, reset the
 * connection before forwarding or after the storage answered (the operation happened, its
 * answer is lost), stall the request mid-body, or add latency. Every request is recorded.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { resetSocket } from './reset-socket.js';

export type S3Operation =
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'UploadPartCopy'
  | 'CompleteMultipartUpload'
  | 'ListParts'
  | 'AbortMultipartUpload'
  | 'ListMultipartUploads'
  | 'PutObjectInfo'
  | 'PutObjectTail'
  | 'PutObject'
  | 'GetObject'
  | 'HeadObject'
  | 'DeleteObject'
  | 'ListObjectsV2'
  | 'Other';

/** Azure Blob Storage operations (test/helpers/fault-proxy-azure.ts classifies them). */
export type AzureOperation =
  | 'PutBlock'
  | 'PutBlockFromURL'
  | 'PutBlockList'
  | 'GetBlockList'
  | 'PutBlobInfo'
  | 'PutBlobTail'
  | 'PutBlob'
  | 'SetBlobMetadata'
  | 'GetBlob'
  | 'GetBlobProperties'
  | 'DeleteBlob'
  | 'ListBlobs'
  | 'Other';

export type Operation = S3Operation | AzureOperation;

export type Fault =
  /** 500 InternalError, not forwarded. */
  | 'error500'
  /** 503 SlowDown, not forwarded. */
  | 'slowdown503'
  /** The connection is reset before anything reaches S3. */
  | 'reset-before'
  /** Forwarded; S3 answered; the connection is reset instead of passing the answer on. */
  | 'reset-after'
  /** Forwarded, but only the first `stallAfterBytes` of the body; then nothing until the client gives up. */
  | 'stall'
  /** Forwarded after `latencyMs`. */
  | 'latency';

export interface FaultRule {
  op?: Operation | readonly Operation[];
  /** Matched against the object key (without the bucket). */
  key?: RegExp;
  /** Only requests for which this returns true (for instance a part number). */
  when?: (req: ClassifiedRequest) => boolean;
  fault: Fault;
  /** Apply to this many matching requests, then stop (default: every one). */
  count?: number;
  /** Apply to this fraction of matching requests (seeded RNG); default 1. */
  fraction?: number;
  latencyMs?: number;
  stallAfterBytes?: number;
}

export interface ClassifiedRequest {
  op: Operation;
  method: string;
  key: string;
  query: URLSearchParams;
}

export interface RecordedRequest {
  op: Operation;
  method: string;
  key: string;
  /** Part number of UploadPart / UploadPartCopy. */
  part?: number;
  /** The status the client saw (0: none, the connection was reset or stalled). */
  status: number;
  /** The status the storage answered with, when the request was forwarded. */
  upstreamStatus?: number;
  fault?: Fault;
}

/** Classify an S3 request (path-style: /bucket/key) by method and query. */
export function classify(method: string, url: string, headers: IncomingMessage['headers']): ClassifiedRequest {
  const parsed = new URL(url, 'http://proxy');
  const q = parsed.searchParams;
  const path = decodeURIComponent(parsed.pathname).replace(/^\/+/, '');
  const slash = path.indexOf('/');
  const key = slash < 0 ? '' : path.slice(slash + 1);
  let op: S3Operation = 'Other';
  if (method === 'POST' && q.has('uploads')) op = 'CreateMultipartUpload';
  else if (method === 'PUT' && q.has('partNumber') && q.has('uploadId'))
    op = headers['x-amz-copy-source'] ? 'UploadPartCopy' : 'UploadPart';
  else if (method === 'POST' && q.has('uploadId')) op = 'CompleteMultipartUpload';
  else if (method === 'GET' && q.has('uploadId')) op = 'ListParts';
  else if (method === 'DELETE' && q.has('uploadId')) op = 'AbortMultipartUpload';
  else if (method === 'GET' && q.has('uploads')) op = 'ListMultipartUploads';
  else if (method === 'GET' && q.get('list-type') === '2') op = 'ListObjectsV2';
  else if (method === 'PUT' && key !== '')
    op = key.endsWith('.info') ? 'PutObjectInfo' : key.endsWith('.part') ? 'PutObjectTail' : 'PutObject';
  else if (method === 'GET' && key !== '') op = 'GetObject';
  else if (method === 'HEAD' && key !== '') op = 'HeadObject';
  else if (method === 'DELETE' && key !== '') op = 'DeleteObject';
  return { op, method, key, query: q };
}

/** mulberry32: a small seeded RNG, so a fault mix is the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An error answer in the storage's terms. */
export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** How one storage's requests are classified and its errors written. */
export interface Dialect {
  classify(method: string, url: string, headers: IncomingMessage['headers']): ClassifiedRequest;
  error(fault: 'error500' | 'slowdown503', key: string): ErrorAnswer;
}

const S3_ERRORS: Record<'error500' | 'slowdown503', { status: number; code: string; message: string }> = {
  error500: { status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.' },
  slowdown503: { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' },
};

export const s3Dialect: Dialect = {
  classify,
  error(fault, key) {
    const { status, code, message } = S3_ERRORS[fault];
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><Resource>/${key}</Resource><RequestId>fault-proxy</RequestId></Error>`;
    return { status, headers: { 'Content-Type': 'application/xml', 'x-amz-request-id': 'fault-proxy' }, body };
  },
};

export class FaultProxy {
  readonly requests: RecordedRequest[] = [];
  private rules: Array<FaultRule & { used: number }> = [];
  private random: () => number;
  private readonly sockets = new Set<Socket>();
  private readonly upstream: URL;

  private constructor(
    private readonly server: Server,
    upstream: string,
    seed: number,
    private readonly dialect: Dialect,
  ) {
    this.upstream = new URL(upstream);
    this.random = seededRandom(seed);
  }

  /** A proxy to `upstream` (its origin; a path, such as Azurite's account, stays the client's). */
  static async start(upstream: string, seed = 1, dialect: Dialect = s3Dialect): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    const server = createServer((req, res) => proxy?.handle(req, res));
    proxy = new FaultProxy(server, upstream, seed, dialect);
    const p = proxy;
    server.on('connection', (socket) => {
      p.sockets.add(socket);
      socket.on('close', () => p.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Replace the rules (and optionally reseed); `[]` stops every fault. */
  setRules(rules: readonly FaultRule[], seed?: number): void {
    this.rules = rules.map((r) => ({ ...r, used: 0 }));
    if (seed !== undefined) this.random = seededRandom(seed);
  }

  clear(): void {
    this.setRules([]);
  }

  /** Requests of these operations (all when none given). */
  seen(...ops: Operation[]): RecordedRequest[] {
    return ops.length === 0 ? this.requests : this.requests.filter((r) => ops.includes(r.op));
  }

  faulted(): RecordedRequest[] {
    return this.requests.filter((r) => r.fault && r.fault !== 'latency');
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pick(req: ClassifiedRequest): FaultRule | undefined {
    for (const rule of this.rules) {
      if (rule.op !== undefined && !(typeof rule.op === 'string' ? rule.op === req.op : rule.op.includes(req.op))) continue;
      if (rule.key && !rule.key.test(req.key)) continue;
      if (rule.when && !rule.when(req)) continue;
      if (rule.count !== undefined && rule.used >= rule.count) continue;
      if (rule.fraction !== undefined && this.random() >= rule.fraction) continue;
      rule.used += 1;
      return rule;
    }
    return undefined;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const c = this.dialect.classify(req.method ?? 'GET', req.url ?? '/', req.headers);
    const part = c.query.get('partNumber');
    const record: RecordedRequest = { op: c.op, method: c.method, key: c.key, status: 0, ...(part ? { part: Number(part) } : {}) };
    this.requests.push(record);
    const rule = this.pick(c);
    if (rule) record.fault = rule.fault;
    const reset = () => {
      resetSocket(req.socket);
    };
    switch (rule?.fault) {
      case 'error500':
      case 'slowdown503': {
        const e = this.dialect.error(rule.fault, c.key);
        record.status = e.status;
        // Drain the request body, so the client sees the answer rather than a reset.
        req.resume();
        res.writeHead(e.status, { ...e.headers, 'Content-Length': Buffer.byteLength(e.body) });
        res.end(c.method === 'HEAD' ? undefined : e.body);
        return;
      }
      case 'reset-before':
        reset();
        return;
      case 'latency':
        setTimeout(() => this.forward(req, res, record, undefined), rule.latencyMs ?? 200);
        return;
      default:
        this.forward(req, res, record, rule);
    }
  }

  private forward(req: IncomingMessage, res: ServerResponse, record: RecordedRequest, rule: FaultRule | undefined): void {
    // The Host header stays the proxy's: it is part of an S3 request's signature.
    const headers = { ...req.headers };
    const out = httpRequest({
      host: this.upstream.hostname,
      port: this.upstream.port,
      method: req.method,
      path: req.url,
      headers,
    });
    const lost = rule?.fault === 'reset-after';
    out.on('response', (up) => {
      record.upstreamStatus = up.statusCode ?? 0;
      if (lost) {
        // Let the storage finish the operation, then lose its answer.
        up.resume();
        up.on('end', () => resetSocket(req.socket));
        return;
      }
      record.status = up.statusCode ?? 0;
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => req.socket.destroy());
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    if (rule?.fault === 'stall') {
      // Pass the first bytes on, then hold the rest until the client gives up.
      const limit = rule.stallAfterBytes ?? 1024;
      let passed = 0;
      req.on('data', (chunk: Buffer) => {
        if (passed >= limit) return;
        const take = chunk.subarray(0, limit - passed);
        passed += take.length;
        out.write(take);
      });
      req.on('close', () => out.destroy());
      return;
    }
    req.pipe(out);
  }
}
