import type { DataStore } from '@tus/utils';
import type { Logger } from 'pino';
import type { Location } from '../config/index.js';
import { createLocalStore } from './local/index.js';
import { createS3Store } from './s3/index.js';

export interface StoreOptions {
  /** Milliseconds after creation an unfinished upload expires; 0 never. */
  expiration: number;
  /** Largest upload accepted; 0 no limit. */
  maxUploadSize: number;
  logger?: Logger;
}

/** The tus DataStore for one storage location, by its driver. */
export function createStore(location: Location, options: StoreOptions): DataStore {
  switch (location.driver) {
    case 'local':
      return createLocalStore(location, options);
    case 's3':
      return createS3Store(location, options);
  }
}
