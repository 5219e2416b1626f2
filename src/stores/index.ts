import type { DataStore } from '@tus/utils';
import type { Logger } from 'pino';
import type { Location } from '../config/index.js';
import { isConcatenator, type UploadVersions } from './capabilities.js';
import { driverOf } from './drivers.js';

export interface StoreOptions {
  /** Milliseconds after creation an unfinished upload expires; 0 never. */
  expiration: number;
  /** Largest upload accepted; 0 no limit. */
  maxUploadSize: number;
  logger?: Logger;
  onS3Call?: (operation: string, result: 'ok' | 'error', seconds: number) => void;
  /** Shared versions of upload state (Redis), for stores that cache it. */
  versions?: UploadVersions | undefined;
}

/** The tus DataStore for one storage location, by its driver. */
export async function createStore(location: Location, options: StoreOptions): Promise<DataStore> {
  const store = await driverOf(location).createStore(location, options);
  // @tus/server lets `Upload-Concat` through only for this (misspelt) extension name.
  if (isConcatenator(store)) store.extensions.push('concatentation');
  return store;
}
