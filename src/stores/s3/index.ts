import type { Logger } from 'pino';
import type { S3Location } from '../../config/index.js';
import { createS3Client } from './client.js';
import { S3Store } from './store.js';

export { S3Store } from './store.js';

export interface S3StoreFactoryOptions {
  expiration: number;
  maxUploadSize: number;
  logger?: Logger;
}

export function createS3Store(location: S3Location, options: S3StoreFactoryOptions): S3Store {
  return new S3Store({ location, client: createS3Client(location), ...options });
}
