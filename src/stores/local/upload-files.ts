/**
 * Where the local store keeps an upload's bytes. Without a key template, at `<root>/<id>`
 * (@tus/file-store's layout). With one, at `<root>/<key>` from its creation to its removal,
 * the key computed once and recorded in `<root>/<id>.json` (field `key`), which stays where
 * @tus/file-store looks for it: every operation by id reads the path from there. The file
 * never moves, so a crash can never leave it between two places, and a key whose first
 * segment is the id (`{id}/{metadata.filename}`) needs no file `<root>/<id>` in its way.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ERRORS, type KvStore, type Upload } from '@tus/utils';
import { UploadIdTaken } from '../exclusive-create.js';

/** An upload's `.json`, with the key of its file when its location has a key template. */
export type UploadRecord = Upload & { key?: string };

/** Upload ids (src/tus/upload-id.ts): the names of `.json` files that are uploads' records. */
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,200}$/;

export class UploadFiles {
  constructor(
    private readonly root: string,
    private readonly records: KvStore<Upload>,
  ) {}

  /** The upload's record, or undefined. */
  async record(id: string): Promise<UploadRecord | undefined> {
    return (await this.records.get(id)) as UploadRecord | undefined;
  }

  /** Write the record, keeping the key recorded at creation. */
  async save(id: string, upload: Upload, key: string | undefined): Promise<void> {
    await this.records.set(id, (key === undefined ? upload : { ...upload, key }) as Upload);
  }

  /** The file of an upload (keys never leave the root: key-template.ts writes no `.` or `..` segment). */
  pathOf(id: string, key: string | undefined): string {
    return join(this.root, key ?? id);
  }

  /**
   * The empty file of a new upload at its key, and its record. `exclusive` (an id chosen
   * elsewhere): claimed by creating the record with `wx` first (UploadIdTaken when it exists).
   * The file is created with `wx` too unless `replace`: a key is never shared, and a file
   * already there is not ours to overwrite.
   */
  async create(upload: Upload, key: string, { exclusive = false, replace = false } = {}): Promise<string> {
    await mkdir(this.root, { recursive: true });
    const claim = join(this.root, `${upload.id}.json`);
    if (exclusive) await createOnce(claim, () => new UploadIdTaken());
    const path = this.pathOf(upload.id, key);
    try {
      await mkdir(dirname(path), { recursive: true });
      if (replace) await (await open(path, 'w')).close();
      else await createOnce(path, () => new Error(`a file is already at ${path}, where upload ${upload.id}'s key template puts it`));
    } catch (error) {
      // The claimed id is given back: no upload was made.
      if (exclusive) await rm(claim, { force: true });
      throw error;
    }
    await this.save(upload.id, upload, key);
    return path;
  }

  /** Append `readable` at `offset` (as @tus/file-store's write does), answering the new end. */
  async write(readable: Readable, path: string, offset: number): Promise<number> {
    let received = 0;
    const count = async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        received += chunk.length;
        yield chunk;
      }
    };
    try {
      await pipeline(readable, count, createWriteStream(path, { flags: 'r+', start: offset }));
    } catch {
      throw ERRORS.FILE_WRITE_ERROR;
    }
    return offset + received;
  }

  /** Bytes in the file, or FILE_NO_LONGER_EXISTS. */
  async size(path: string): Promise<number> {
    try {
      return (await stat(path)).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw ERRORS.FILE_NO_LONGER_EXISTS;
      throw error;
    }
  }

  /** The file and the record; FILE_NOT_FOUND when there is neither. (Directories a key made stay: another upload may be filling them.) */
  async remove(id: string, key: string | undefined): Promise<void> {
    const record = await this.record(id);
    const path = this.pathOf(id, key ?? record?.key);
    const found = await stat(path).then(
      () => true,
      () => false,
    );
    if (!record && !found) throw ERRORS.FILE_NOT_FOUND;
    await rm(path, { force: true });
    if (record) await this.records.delete(id);
  }

  /** The ids of every upload recorded under the root. */
  async ids(): Promise<string[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith('.json') && UPLOAD_ID.test(n.slice(0, -'.json'.length))).map((n) => n.slice(0, -5));
  }
}

async function createOnce(path: string, taken: () => Error): Promise<void> {
  try {
    await (await open(path, 'wx')).close();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw taken();
    throw error;
  }
}
