import { createReadStream } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { FileStore } from '@tus/file-store';
import type { LocalLocation } from '../../config/index.js';
import type { RangedReader } from '../ranged-read.js';

export interface LocalStoreOptions {
  /** Milliseconds after creation an unfinished upload expires; 0 never. */
  expiration: number;
}

/** @tus/file-store, plus ranged reads for downloads. */
export class LocalStore extends FileStore implements RangedReader {
  readonly root: string;
  constructor(root: string, expiration: number) {
    super({ directory: root, expirationPeriodInMilliseconds: expiration });
    this.root = root;
  }

  async openRange(id: string, start: number, end: number): Promise<Readable> {
    // Ids reach here from a URL segment checked by the route; join never leaves the root.
    return createReadStream(join(this.root, id), { start, end });
  }
}

/** Uploads as plain files under the location's root, with a `<id>.json` beside each. */
export function createLocalStore(location: LocalLocation, options: LocalStoreOptions): LocalStore {
  return new LocalStore(resolve(location.root), options.expiration);
}
