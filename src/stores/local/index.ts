import { constants, createReadStream, createWriteStream } from 'node:fs';
import { access, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FileStore } from '@tus/file-store';
import { ERRORS, Upload } from '@tus/utils';
import { bodyPieces, isBodyCut } from '../body-pieces.js';
import {
  BodyTooLong,
  type BodyWriteOptions,
  type BodyWriter,
  type Concatenator,
  type Prober,
  type RangedReader,
  type RecordKeeper,
} from '../capabilities.js';
import { type CreationIntent, intend, intentOf } from '../creation-intent.js';
import { UploadIdTaken } from '../exclusive-create.js';
import { type KeyTemplate, objectKey } from '../key-template.js';
import type { LocalLocation } from './driver.js';
import { UploadFiles } from './upload-files.js';

export interface LocalStoreOptions {
  /** Milliseconds after creation an unfinished upload expires; 0 never. */
  expiration: number;
}

/**
 * @tus/file-store, plus ranged reads for downloads, concatenation, bodies read directly, and
 * files at the location's key template's keys (upload-files.ts).
 */
export class LocalStore extends FileStore implements BodyWriter, RangedReader, Concatenator, Prober, RecordKeeper {
  readonly root: string;
  private readonly files: UploadFiles;
  constructor(
    root: string,
    expiration: number,
    private readonly keyTemplate?: KeyTemplate,
  ) {
    super({ directory: root, expirationPeriodInMilliseconds: expiration });
    this.root = root;
    this.files = new UploadFiles(root, this.configstore);
  }

  /** Creation at the key template's key, when the location has one (upload-files.ts). */
  override async create(upload: Upload): Promise<Upload> {
    if (!this.keyTemplate) return this.createAtId(upload);
    const { subject, exclusive } = intentOf(upload);
    const createdAt = upload.creation_date ?? new Date().toISOString();
    const key = objectKey(this.keyTemplate, { id: upload.id, subject, createdAt, metadata: upload.metadata });
    upload.storage = { type: 'file', path: await this.files.create(upload, key, { exclusive: exclusive === true }) };
    return upload;
  }

  override async getUpload(id: string): Promise<Upload> {
    const record = await this.files.record(id);
    if (record?.key === undefined) return super.getUpload(id);
    const path = this.files.pathOf(id, record.key);
    const { size, metadata, creation_date } = record;
    return new Upload({ id, size, offset: await this.files.size(path), metadata, creation_date, storage: { type: 'file', path } });
  }

  override async write(readable: Readable, id: string, offset: number): Promise<number> {
    const record = await this.files.record(id);
    if (record?.key === undefined) return super.write(readable, id, offset);
    return this.files.write(readable, this.files.pathOf(id, record.key), offset);
  }

  override async remove(id: string): Promise<void> {
    const record = await this.files.record(id);
    if (record?.key === undefined) return super.remove(id);
    await this.files.remove(id, record.key);
  }

  /**
   * Unfinished uploads (length unknown, or a file shorter than it) older than the expiration.
   * (@tus/file-store's own compares the length with the offset its record kept from the
   * creation, 0, and so removed finished uploads too; and it finds only files at `<root>/<id>`.)
   */
  override async deleteExpired(): Promise<number> {
    const expiration = this.getExpiration();
    if (expiration <= 0) return 0;
    let removed = 0;
    for (const id of await this.files.ids()) {
      const record = await this.files.record(id);
      if (!record?.creation_date || Date.now() - new Date(record.creation_date).getTime() <= expiration) continue;
      const stored = await this.files.size(this.files.pathOf(id, record.key)).catch(() => undefined);
      if (stored !== undefined && record.size !== undefined && stored >= record.size) continue;
      await this.remove(id).catch((error: unknown) => (error === ERRORS.FILE_NOT_FOUND ? undefined : Promise.reject(error)));
      removed += 1;
    }
    return removed;
  }

  /**
   * @tus/file-store's creation, but an upload whose id was chosen elsewhere (creation-intent.ts)
   * gets its file only if there is none: opened with `wx`, atomic also between processes
   * sharing the directory; UploadIdTaken leaves the existing upload untouched.
   */
  private async createAtId(upload: Upload): Promise<Upload> {
    if (!intentOf(upload).exclusive) return super.create(upload);
    // Ids are upload ids (letters, digits, _ and -): join never leaves the root.
    const path = join(this.root, upload.id);
    await mkdir(this.root, { recursive: true });
    try {
      await (await open(path, 'wx')).close();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new UploadIdTaken();
      throw error;
    }
    await this.configstore.set(upload.id, upload);
    upload.storage = { type: 'file', path };
    return upload;
  }

  /**
   * The raw body into the file. Every byte that arrived is written, also when the body breaks
   * off or `stop` asks for the lock (@tus/server's own stream drops the bytes still in its
   * buffers when the connection dies); past `maxBytes` what fits is kept (BodyTooLong).
   */
  async writeBody(id: string, offset: number, body: Readable, { maxBytes, stop, onProgress, hold }: BodyWriteOptions): Promise<number> {
    let tooLarge = false;
    // A lost lock stops the file's appends at once (those made before it was known stay: see docs/deployment.md, Scaling out).
    const until = hold && stop ? AbortSignal.any([stop, hold.lost]) : (hold?.lost ?? stop);
    const within = async function* () {
      let room = maxBytes;
      try {
        for await (const piece of bodyPieces(body, until, onProgress)) {
          if (piece.length > room) tooLarge = true;
          if (room > 0) yield piece.length > room ? piece.subarray(0, room) : piece;
          room -= Math.min(room, piece.length);
          if (tooLarge) return;
        }
      } catch (error) {
        if (!isBodyCut(error)) throw error;
      }
    };
    const end = await this.write(Readable.from(within(), { objectMode: false }), id, offset);
    if (hold?.lost.aborted) throw hold.lost.reason;
    if (tooLarge) throw new BodyTooLong(end);
    return end;
  }

  async concatenate(
    id: string,
    partialIds: readonly string[],
    metadata: Record<string, string | null> | undefined,
    intent: CreationIntent = {},
  ): Promise<number> {
    const partials = await Promise.all(partialIds.map((p) => this.getUpload(p)));
    const size = partials.reduce((total, p) => total + (p.size ?? 0), 0);
    const created = new Upload({ id, size: 0, offset: 0, ...(metadata ? { metadata } : {}) });
    intend(created, intent);
    // A final upload that waited for its partials keeps the key it got when it was created.
    const key = (await this.files.record(id))?.key;
    const path = key !== undefined ? await this.files.create(created, key, { replace: true }) : (await this.create(created)).storage?.path;
    for (const partial of partials) {
      await pipeline(createReadStream(partial.storage?.path ?? ''), createWriteStream(path ?? '', { flags: 'a' }));
    }
    // Record the real length now that the bytes are there.
    await this.files.save(
      id,
      new Upload({ id, size, offset: size, ...(metadata ? { metadata } : {}) }),
      key ?? (await this.files.record(id))?.key,
    );
    return size;
  }

  async setMetadata(id: string, metadata: Record<string, string | null>): Promise<void> {
    const upload = await this.getUpload(id);
    await this.files.save(id, new Upload({ ...upload, metadata }), (await this.files.record(id))?.key);
  }

  /** Readiness: the directory exists (or can be made) and is writable. */
  async probe(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await access(this.root, constants.W_OK);
  }

  /**
   * Records live in `<root>/.tus-<kind>/`: @tus/file-store lists only names with a `.json`
   * beside them, and no upload id has a dot. Written to a temporary name, flushed, then
   * renamed: a crash leaves the old record or the new one, never half of one.
   */
  private recordPath(kind: string, name = ''): string {
    return join(this.root, `.tus-${kind}`, name ? `${name}.json` : '');
  }

  async putRecord(kind: string, name: string, text: string): Promise<void> {
    await mkdir(this.recordPath(kind), { recursive: true });
    const path = this.recordPath(kind, name);
    const temporary = `${path}.${process.pid}.tmp`;
    const file = await open(temporary, 'w');
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
  }

  async readRecord(kind: string, name: string): Promise<string | undefined> {
    try {
      return await readFile(this.recordPath(kind, name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async deleteRecord(kind: string, name: string): Promise<void> {
    await rm(this.recordPath(kind, name), { force: true });
  }

  async listRecords(kind: string): Promise<string[]> {
    try {
      return (await readdir(this.recordPath(kind))).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  async openRange(id: string, start: number, end: number): Promise<Readable> {
    // Ids reach here from a URL segment checked by the route; join never leaves the root.
    return createReadStream(this.files.pathOf(id, (await this.files.record(id))?.key), { start, end });
  }
}

/** Uploads as plain files under the location's root, with a `<id>.json` beside each. */
export function createLocalStore(location: LocalLocation, options: LocalStoreOptions): LocalStore {
  return new LocalStore(resolve(location.root), options.expiration, location.keyTemplate);
}
