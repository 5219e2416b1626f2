/** Drive the azure store directly (below HTTP), against the Azure test server. */
import { Readable } from 'node:stream';
import { Upload } from '@tus/utils';
import { parseConfig } from '../../src/config/index.js';
import type { AzureLocation } from '../../src/stores/azure/config.js';
import { createAzureStore } from '../../src/stores/azure/index.js';
import type { AzureStore } from '../../src/stores/azure/store.js';
import { type AzureTestServer, azureLocationEnv } from './azure.js';

export function azureLocation(server: AzureTestServer, root: string, extra: Record<string, string> = {}): AzureLocation {
  return parseConfig(azureLocationEnv(server, root, extra)).locations[0] as AzureLocation;
}

export function makeAzureStore(location: AzureLocation, options: { expiration?: number; maxUploadSize?: number } = {}): AzureStore {
  return createAzureStore(location, { expiration: options.expiration ?? 0, maxUploadSize: options.maxUploadSize ?? 0 });
}

export function createIn(store: AzureStore, id: string, size: number | undefined, metadata?: Record<string, string>): Promise<Upload> {
  return store.create(new Upload({ id, offset: 0, ...(size !== undefined ? { size } : {}), ...(metadata ? { metadata } : {}) }));
}

/** Write `data` as one request body (in 256 KiB chunks). */
export function writeAll(store: AzureStore, id: string, offset: number, data: Buffer, chunk = 256 * 1024): Promise<number> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) chunks.push(data.subarray(i, i + chunk));
  return store.writeBody(id, offset, Readable.from(chunks), { expectedBytes: data.length, maxBytes: Number.MAX_SAFE_INTEGER });
}
