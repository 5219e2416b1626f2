import type { DataStore } from '@tus/utils';
import type { Location } from '../config/index.js';
import { createLocalStore } from './local/index.js';

export interface StoreOptions {
  expiration: number;
}

/** The tus DataStore for one storage location, by its driver. */
export function createStore(location: Location, options: StoreOptions): DataStore {
  switch (location.driver) {
    case 'local':
      return createLocalStore(location, options);
    case 's3':
      throw new Error(`STORAGE_${location.name.toUpperCase()}_DRIVER=s3: the s3 driver is not available in this build yet`);
  }
}
