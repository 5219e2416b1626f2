/**
 * Every Azure call of one location: its container, and the translation of Azure failures into
 * answers that say what to check (StoreError). Nothing here knows about tus uploads beyond
 * blob names.
 */
import type { Readable } from 'node:stream';
import { BlobSASPermissions, type BlobServiceClient, type BlockBlobClient, type ContainerClient } from '@azure/storage-blob';
import type { Logger } from 'pino';
import { UploadIdTaken } from '../exclusive-create.js';
import type { AzureLocation } from './config.js';
import { explainAzureError, isBlobMissing, isConditionFailed, STATE_CHANGED, StoreError } from './errors.js';

/** A staged (uncommitted) block: its id and size. */
export interface StagedBlock {
  name: string;
  size: number;
}

/** Content headers of a committed blob. */
export interface BlobHeaders {
  contentType: string;
  contentDisposition?: string | undefined;
}

/** How long a partial's read SAS lives while a concatenation copies it. */
const SAS_LIFETIME = 3600 * 1000;

export class AzureContainer {
  /** Calls without a large body, each attempt answered within a short timeout. */
  readonly client: ContainerClient;
  /** Blocks, copies, commits and downloads: as long as their bytes take. */
  private readonly bulk: ContainerClient;

  constructor(
    readonly location: AzureLocation,
    services: { quick: BlobServiceClient; bulk: BlobServiceClient },
    private readonly log?: Logger,
  ) {
    this.client = services.quick.getContainerClient(location.container);
    this.bulk = services.bulk.getContainerClient(location.container);
  }

  get name(): string {
    return this.location.container;
  }

  warn(details: Record<string, unknown>, message: string): void {
    this.log?.warn(details, message);
  }

  /** Run one Azure call; a failure becomes a StoreError that says what to check. */
  async call<T>(operation: string, blob: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof StoreError || error instanceof UploadIdTaken || (error instanceof Error && error.name === 'AbortError'))
        throw error;
      const explained = explainAzureError(error, { location: this.location.name, container: this.name, operation, blob });
      this.log?.error({ operation, blob, cause: explained.cause, err: error }, explained.body.trim());
      throw explained;
    }
  }

  blob(name: string): BlockBlobClient {
    return this.client.getBlockBlobClient(name);
  }

  private bulkBlob(name: string): BlockBlobClient {
    return this.bulk.getBlockBlobClient(name);
  }

  /** A small blob's text and ETag, or undefined when it does not exist. */
  async readState(name: string): Promise<{ text: string; etag: string | undefined } | undefined> {
    try {
      const res = await this.blob(name).download();
      return { text: (await streamBytes(res.readableStreamBody)).toString('utf8'), etag: res.etag };
    } catch (error) {
      if (isBlobMissing(error)) return undefined;
      return this.call('GetBlob', name, () => Promise.reject(error));
    }
  }

  /** Bytes `start`..`start + count - 1` in memory (small blobs and tails only). */
  readRange(name: string, start: number, count: number): Promise<Buffer> {
    return this.call('GetBlob', name, async () => {
      const res = await this.blob(name).download(start, count);
      return streamBytes(res.readableStreamBody);
    });
  }

  /** Bytes start..end (inclusive) as a stream. */
  async openRange(name: string, start: number, end: number): Promise<Readable> {
    const res = await this.call('GetBlob', name, () => this.bulkBlob(name).download(start, end - start + 1));
    return res.readableStreamBody as Readable;
  }

  /** Size, metadata and last change of a committed blob, or undefined when none is committed. */
  async properties(name: string): Promise<{ size: number; metadata: Record<string, string>; lastModified?: Date } | undefined> {
    try {
      const p = await this.blob(name).getProperties();
      return { size: p.contentLength ?? 0, metadata: p.metadata ?? {}, ...(p.lastModified ? { lastModified: p.lastModified } : {}) };
    } catch (error) {
      if (isBlobMissing(error)) return undefined;
      return this.call('GetBlobProperties', name, () => Promise.reject(error));
    }
  }

  /** A private blob (state, tail) written whole; returns its ETag. */
  async put(
    name: string,
    body: Buffer,
    options: { contentType?: string; metadata?: Record<string, string> } = {},
  ): Promise<string | undefined> {
    const res = await this.call('PutBlob', name, () =>
      this.blob(name).upload(body, body.length, {
        ...(options.contentType ? { blobHTTPHeaders: { blobContentType: options.contentType } } : {}),
        ...(options.metadata ? { metadata: options.metadata } : {}),
      }),
    );
    return res.etag;
  }

  /** A blob that must not exist yet (If-None-Match: *): UploadIdTaken when it does. Returns its ETag. */
  async putNew(name: string, body: Buffer, contentType: string): Promise<string | undefined> {
    try {
      const res = await this.blob(name).upload(body, body.length, {
        blobHTTPHeaders: { blobContentType: contentType },
        conditions: { ifNoneMatch: '*' },
      });
      return res.etag;
    } catch (error) {
      if (isConditionFailed(error)) throw new UploadIdTaken();
      return this.call('PutBlob', name, () => Promise.reject(error));
    }
  }

  /**
   * Write a state blob over the version `etag` names (If-Match); unconditionally when `etag`
   * is undefined (a new upload). Another version there fails with STATE_CHANGED, untouched.
   */
  async putState(name: string, body: Buffer, etag: string | undefined): Promise<string | undefined> {
    try {
      const res = await this.blob(name).upload(body, body.length, {
        blobHTTPHeaders: { blobContentType: 'application/json' },
        ...(etag ? { conditions: { ifMatch: etag } } : {}),
      });
      return res.etag;
    } catch (error) {
      if (etag && isConditionFailed(error)) throw STATE_CHANGED;
      return this.call('PutBlob', name, () => Promise.reject(error));
    }
  }

  /** The blob's staged blocks (none for a blob that has none). */
  async stagedBlocks(name: string): Promise<StagedBlock[]> {
    try {
      const list = await this.blob(name).getBlockList('uncommitted');
      return (list.uncommittedBlocks ?? []).map((b) => ({ name: b.name ?? '', size: b.size ?? 0 }));
    } catch (error) {
      if (isBlobMissing(error)) return [];
      return this.call('GetBlockList', name, () => Promise.reject(error));
    }
  }

  /** Block `id` of `name`: bytes, or a body factory (called once per attempt) of `length` bytes. */
  async stageBlock(
    name: string,
    id: string,
    body: Buffer | (() => NodeJS.ReadableStream),
    length: number,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.call('PutBlock', name, () => this.bulkBlob(name).stageBlock(id, body, length, signal ? { abortSignal: signal } : {}));
  }

  /** Block `id` of `name` from bytes offset..offset+count-1 of another blob, inside Azure. */
  async stageBlockFromBlob(name: string, id: string, source: string, offset: number, count: number): Promise<void> {
    const url = await this.readUrl(source);
    await this.call('PutBlockFromURL', name, () => this.bulkBlob(name).stageBlockFromURL(id, url, offset, count));
  }

  /** A URL that lets Azure read `source` for a while (a SAS signed with the account key). */
  private readUrl(source: string): Promise<string> {
    return this.blob(source).generateSasUrl({
      permissions: BlobSASPermissions.parse('r'),
      startsOn: new Date(Date.now() - 5 * 60 * 1000),
      expiresOn: new Date(Date.now() + SAS_LIFETIME),
    });
  }

  /** Commit the blob from these blocks, in order, with its content headers. */
  async commit(name: string, ids: readonly string[], headers: BlobHeaders): Promise<void> {
    await this.call('PutBlockList', name, () =>
      this.bulkBlob(name).commitBlockList([...ids], {
        blobHTTPHeaders: {
          blobContentType: headers.contentType,
          ...(headers.contentDisposition ? { blobContentDisposition: headers.contentDisposition } : {}),
        },
      }),
    );
  }

  /** Delete a blob; one already gone is fine. */
  async delete(name: string): Promise<void> {
    await this.call('DeleteBlob', name, () => this.blob(name).deleteIfExists());
  }

  /**
   * Remove a blob that may have staged blocks only: Azure keeps those for up to 7 days, and no
   * call deletes them but committing an (empty) block list, which makes a blob that can be deleted.
   */
  async discardBlocks(name: string): Promise<void> {
    if ((await this.stagedBlocks(name)).length > 0 && !(await this.properties(name)))
      await this.commit(name, [], { contentType: 'application/octet-stream' });
    await this.delete(name);
  }

  /**
   * The blobs right under `prefix` (not below a further `/`: the blobs a key template put in
   * folders under the root are not walked), committed ones only, with their last change.
   */
  async *list(prefix: string): AsyncGenerator<{ name: string; lastModified: Date }> {
    const pages = this.client.listBlobsByHierarchy('/', { prefix }).byPage({ maxPageSize: 1000 });
    for (;;) {
      const page = await this.call('ListBlobs', prefix, () => pages.next());
      if (page.done) return;
      for (const blob of page.value.segment.blobItems) yield { name: blob.name, lastModified: blob.properties.lastModified };
    }
  }

  /** Readiness: a tiny authorised write under the root. */
  async probe(signal: AbortSignal): Promise<void> {
    const name = `${this.location.root}.tus-readyz`;
    await this.call('PutBlob', name, () => this.blob(name).upload(Buffer.alloc(0), 0, { abortSignal: signal }));
  }
}

async function streamBytes(stream: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream ?? []) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
