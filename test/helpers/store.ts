/** Drive the S3 store directly (below HTTP), with middleware that watches or alters its S3 calls. */
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@tus/utils';
import { parseConfig, type S3Location } from '../../src/config/index.js';
import { createS3Client } from '../../src/stores/s3/client.js';
import { S3Store } from '../../src/stores/s3/store.js';
import { type S3TestServer, s3LocationEnv } from './s3.js';

export function s3Location(server: S3TestServer, root: string, extra: Record<string, string> = {}): S3Location {
  return parseConfig(s3LocationEnv(server, root, extra)).locations[0] as S3Location;
}

export function makeStore(
  location: S3Location,
  options: { expiration?: number; maxUploadSize?: number } = {},
): { store: S3Store; client: S3Client } {
  const client = createS3Client(location);
  const store = new S3Store({ location, client, expiration: options.expiration ?? 0, maxUploadSize: options.maxUploadSize ?? 0 });
  return { store, client };
}

/** Every S3 command the client sends, by name, in order. */
export function recordCommands(client: S3Client): Array<{ name: string; input: Record<string, unknown> }> {
  const seen: Array<{ name: string; input: Record<string, unknown> }> = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      seen.push({ name: String(context.commandName).replace(/Command$/, ''), input: args.input as Record<string, unknown> });
      return next(args);
    },
    { step: 'initialize', name: 'recordCommands' },
  );
  return seen;
}

export async function createUploadIn(
  store: S3Store,
  id: string,
  size: number | undefined,
  metadata?: Record<string, string>,
): Promise<Upload> {
  return store.create(new Upload({ id, offset: 0, ...(size !== undefined ? { size } : {}), ...(metadata ? { metadata } : {}) }));
}

/** Write `data` as one request body (in 1 MiB chunks), announcing its length like Content-Length. */
export function writeBody(store: S3Store, id: string, offset: number, data: Buffer, chunk = 1024 * 1024): Promise<number> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) chunks.push(data.subarray(i, i + chunk));
  return store.writeBody(id, offset, Readable.from(chunks), { expectedBytes: data.length, maxBytes: Number.MAX_SAFE_INTEGER });
}

/** Write a streamed body, announcing `expectedBytes` like Content-Length. */
export function writeStream(store: S3Store, id: string, offset: number, body: Readable, expectedBytes: number): Promise<number> {
  return store.writeBody(id, offset, body, { expectedBytes, maxBytes: Number.MAX_SAFE_INTEGER });
}
