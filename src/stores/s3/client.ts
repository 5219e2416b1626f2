import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Logger } from 'pino';
import type { S3Location } from './config.js';

const sdkLogger = (log: Logger | undefined) => {
  const note = (...args: unknown[]) => log?.debug({ sdk: args }, 'AWS SDK note');
  return { trace: () => {}, debug: () => {}, info: () => {}, warn: note, error: note };
};

/**
 * One S3 client per location, with a Node HTTP handler honouring the location's timeouts,
 * socket limit and keep-alive.
 */
export function createS3Client(location: S3Location, overrides: Partial<S3ClientConfig> = {}, log?: Logger): S3Client {
  const agentOptions = { keepAlive: location.keepAlive, maxSockets: location.maxSockets };
  return new S3Client({
    region: location.region,
    ...(location.endpoint ? { endpoint: location.endpoint } : {}),
    forcePathStyle: location.forcePathStyle,
    // A copy: the config is frozen and the SDK annotates the credentials object.
    ...(location.credentials ? { credentials: { ...location.credentials } } : {}),
    requestHandler: new NodeHttpHandler({
      connectionTimeout: location.connectionTimeout,
      socketTimeout: location.socketTimeout,
      // Per request (Bucket passes `requestTimeout` to calls without a large body): an error, not a warning.
      throwOnRequestTimeout: true,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
    }),
    // The SDK's default (CRC32 on every request, aws-chunked streaming bodies) is refused by
    // Swift, radosgw, older MinIO, and troubles R2 and B2. Buffered parts carry a signed
    // SHA-256 payload hash instead, which S3 verifies; streamed parts rely on TLS.
    requestChecksumCalculation: location.checksumCalculation,
    responseChecksumValidation: location.checksumCalculation,
    // Transient failures (5xx, throttling, resets, timeouts) are retried per request, so a
    // failed part is re-sent on its own from its retained buffer.
    maxAttempts: location.maxAttempts,
    // The SDK's own notes (for instance that a streamed part is not retried: we re-send it
    // ourselves) go to the debug log, not to the console.
    logger: sdkLogger(log),
    ...overrides,
  });
}
