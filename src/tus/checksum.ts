/**
 * The tus checksum extension: `Upload-Checksum: <algorithm> <base64 digest>` covers one
 * request body. The body is spooled to a temporary file while it is hashed (memory stays
 * flat whatever its size); only a body whose digest matches reaches the store, so a
 * mismatch (460) leaves the offset and the stored bytes as they were.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { spoolPrefix } from './spool-sweep.js';
import { type TempSpace, TempSpaceFull } from './temp-space.js';

let spooledBytes = 0;
/** Bytes currently held in checksum spool files (for the metrics). */
export const tempBytesInUse = () => spooledBytes;

export const CHECKSUM_ALGORITHMS = ['sha1', 'md5', 'sha256', 'crc32'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

export interface ChecksumHeader {
  algorithm: ChecksumAlgorithm;
  digest: Buffer;
}

const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = { sha1: 20, md5: 16, sha256: 32, crc32: 4 };

/** The parsed header, or a message saying what is wrong with it. */
export function parseChecksumHeader(value: string): ChecksumHeader | string {
  const match = /^([A-Za-z0-9-]+) ([A-Za-z0-9+/]+={0,2})$/.exec(value.trim());
  if (!match) return 'Upload-Checksum must be "<algorithm> <base64 digest>", such as "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="';
  const algorithm = match[1]?.toLowerCase() as ChecksumAlgorithm;
  if (!CHECKSUM_ALGORITHMS.includes(algorithm)) {
    return `Upload-Checksum algorithm "${match[1]}" is not supported; supported: ${CHECKSUM_ALGORITHMS.join(', ')}`;
  }
  const encoded = match[2] ?? '';
  if (encoded.length % 4 !== 0)
    return `Upload-Checksum digest ${JSON.stringify(encoded)} is not valid base64 (its length is not a multiple of 4)`;
  // A digest of the wrong length is well-formed: it cannot match, which is a mismatch (460), not a bad request.
  return { algorithm, digest: Buffer.from(encoded, 'base64') };
}

/** Why a digest cannot match, when its length is not the algorithm's. */
export function digestLengthNote({ algorithm, digest }: ChecksumHeader): string {
  const bytes = DIGEST_BYTES[algorithm];
  return digest.length === bytes ? '' : ` (the digest sent has ${digest.length} bytes; a ${algorithm} digest has ${bytes})`;
}

class Crc32 {
  private value = 0;
  update(data: Buffer): this {
    this.value = crc32(data, this.value);
    return this;
  }
  digest(): Buffer {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(this.value >>> 0);
    return out;
  }
}

export interface SpooledBody {
  /** The body matched its digest. */
  matches: boolean;
  size: number;
  /** A fresh stream of the spooled bytes. */
  open(): Readable;
  /** Delete the temporary file. */
  dispose(): Promise<void>;
}

/** The body is longer than the upload can still take: nothing more is spooled. */
export class SpoolTooLarge extends Error {}

export interface SpoolSpace {
  /** The total of every spool (TUS_TEMP_MAX_SIZE); past it the spool fails with TempSpaceFull. */
  space?: TempSpace | undefined;
  /** Bytes the body announces (Content-Length), reserved before the first byte is written. */
  announced?: number | undefined;
}

/** Copy `body` to a temporary file under `tempDir`, hashing it on the way; at most `maxBytes`. */
export async function spoolAndVerify(
  body: Readable,
  header: ChecksumHeader,
  tempDir: string,
  maxBytes = Number.MAX_SAFE_INTEGER,
  room: SpoolSpace = {},
): Promise<SpooledBody> {
  const { digests, ...spooled } = await spool(body, [header.algorithm], tempDir, maxBytes, room);
  return { ...spooled, matches: digests[header.algorithm]?.equals(header.digest) ?? false };
}

/**
 * checksum-trailer: the body of a chunked PATCH that declared `Trailer: Upload-Checksum`. The
 * algorithm is known only after the last byte, so the body is hashed with every supported
 * one; the answer is the spooled body (matching or not), or what is wrong with the trailer.
 */
export async function spoolAndVerifyTrailer(
  body: IncomingMessage,
  tempDir: string,
  maxBytes = Number.MAX_SAFE_INTEGER,
  room: SpoolSpace = {},
): Promise<{ spooled: SpooledBody; problem?: string }> {
  const { digests, ...spooled } = await spool(body, CHECKSUM_ALGORITHMS, tempDir, maxBytes, room);
  const value = body.trailers['upload-checksum'];
  if (value === undefined)
    return { spooled: { ...spooled, matches: false }, problem: 'the declared Upload-Checksum trailer never arrived' };
  const header = parseChecksumHeader(value);
  if (typeof header === 'string') return { spooled: { ...spooled, matches: false }, problem: header };
  return { spooled: { ...spooled, matches: digests[header.algorithm]?.equals(header.digest) ?? false } };
}

async function spool(
  body: Readable,
  algorithms: readonly ChecksumAlgorithm[],
  tempDir: string,
  maxBytes: number,
  { space, announced }: SpoolSpace,
): Promise<Omit<SpooledBody, 'matches'> & { digests: Partial<Record<ChecksumAlgorithm, Buffer>> }> {
  // Space in the temp directory: the announced length first, more as bytes pass it.
  let reserved = 0;
  const reserve = (bytes: number) => {
    if (!space || bytes <= reserved) return;
    if (!space.reserve(bytes - reserved)) throw new TempSpaceFull(space.max > 0 && bytes > space.max);
    reserved = bytes;
  };
  reserve(Math.min(announced ?? 0, maxBytes));
  let dir: string;
  try {
    dir = await mkdtemp(join(tempDir, spoolPrefix()));
  } catch (error) {
    space?.release(reserved);
    throw error;
  }
  const file = join(dir, 'body');
  const hashes = algorithms.map((algorithm) => [algorithm, algorithm === 'crc32' ? new Crc32() : createHash(algorithm)] as const);
  let size = 0;
  let disposed = false;
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    spooledBytes -= size;
    space?.release(reserved);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await pipeline(
      // The request is not destroyed when the spool stops early (too large, no space): it can
      // still be answered (413, 503) before its connection is closed.
      async function* () {
        for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
          if (size + chunk.length > maxBytes) throw new SpoolTooLarge();
          reserve(size + chunk.length);
          for (const [, hash] of hashes) hash.update(chunk);
          size += chunk.length;
          spooledBytes += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(file),
    );
  } catch (error) {
    await dispose();
    throw error;
  }
  const digests = Object.fromEntries(hashes.map(([algorithm, hash]) => [algorithm, hash.digest()]));
  return { digests, size, open: () => createReadStream(file), dispose };
}
