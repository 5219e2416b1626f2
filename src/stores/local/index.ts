import { resolve } from 'node:path';
import { FileStore } from '@tus/file-store';
import type { LocalLocation } from '../../config/index.js';

export interface LocalStoreOptions {
  /** Milliseconds after creation an unfinished upload expires; 0 never. */
  expiration: number;
}

/** Uploads as plain files under the location's root, with a `<id>.json` beside each. */
export function createLocalStore(location: LocalLocation, options: LocalStoreOptions): FileStore {
  return new FileStore({ directory: resolve(location.root), expirationPeriodInMilliseconds: options.expiration });
}
