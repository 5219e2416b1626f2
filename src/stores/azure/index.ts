/** The azure store of one location, with its container's client. */
import { BlobServiceClient, newPipeline, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { Logger } from 'pino';
import type { UploadVersions } from '../capabilities.js';
import { type OnCall, timedCalls } from './call-metrics.js';
import type { AzureLocation } from './config.js';
import { AzureContainer } from './container.js';
import { idleTimeout } from './idle-timeout.js';
import { AzureStore } from './store.js';

export { AzureStore } from './store.js';

export interface AzureStoreFactoryOptions {
  expiration: number;
  maxUploadSize: number;
  logger?: Logger;
  versions?: UploadVersions | undefined;
  /** Called after every Azure call (for metrics). */
  onS3Call?: OnCall | undefined;
}

/** Requests without a large body (state, tails, listings) are answered within this long per attempt. */
const QUICK_TRY_TIMEOUT = 30_000;
/** First pause before a retry, doubled each time up to the second (the SDK's default starts at 4 s). */
const RETRY_DELAY = 500;
const MAX_RETRY_DELAY = 8000;

export function createAzureStore(location: AzureLocation, { logger, onS3Call, ...options }: AzureStoreFactoryOptions): AzureStore {
  const credential = new StorageSharedKeyCredential(location.accountName, location.accountKey);
  const client = (tryTimeoutInMs: number | undefined) => {
    const pipeline = newPipeline(credential, {
      retryOptions: {
        maxTries: location.maxAttempts,
        retryDelayInMs: RETRY_DELAY,
        maxRetryDelayInMs: MAX_RETRY_DELAY,
        ...(tryTimeoutInMs ? { tryTimeoutInMs } : {}),
      },
    });
    // First in the pipeline: a call is timed with its retries.
    if (onS3Call) pipeline.factories.unshift(timedCalls(onS3Call));
    // After the timing: a stalled attempt is abandoned and sent again (idle-timeout.ts).
    if (location.socketTimeout > 0) pipeline.factories.push(idleTimeout(location.socketTimeout, location.maxAttempts));
    return new BlobServiceClient(location.endpoint, pipeline);
  };
  // Blocks (up to 4000 MiB), copies and commits take as long as their bytes do: no per-attempt timeout.
  const container = new AzureContainer(location, { quick: client(QUICK_TRY_TIMEOUT), bulk: client(undefined) }, logger);
  return new AzureStore({ location, container, ...options });
}
