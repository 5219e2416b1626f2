import type { Logger } from 'pino';
import { createS3Client } from './client.js';
import type { S3Location } from './config.js';
import { S3Store } from './store.js';

export { S3Store } from './store.js';

export interface S3StoreFactoryOptions {
  expiration: number;
  maxUploadSize: number;
  logger?: Logger;
  /** Called after every S3 call (for metrics). */
  onS3Call?: (operation: string, result: 'ok' | 'error', seconds: number) => void;
}

export function createS3Store(location: S3Location, { onS3Call, ...options }: S3StoreFactoryOptions): S3Store {
  const client = createS3Client(location, {}, options.logger);
  if (onS3Call) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const started = process.hrtime.bigint();
        const operation = String(context.commandName).replace(/Command$/, '');
        const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
        try {
          const out = await next(args);
          onS3Call(operation, 'ok', seconds());
          return out;
        } catch (error) {
          onS3Call(operation, 'error', seconds());
          throw error;
        }
      },
      { step: 'initialize', name: 'tusMetrics' },
    );
  }
  return new S3Store({ location, client, ...options });
}
