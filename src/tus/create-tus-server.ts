import { MemoryLocker, Server } from '@tus/server';
import type { DataStore, Locker } from '@tus/utils';
import { markPartial } from './concatenation.js';

export interface TusServerOptions {
  /** Mount path without trailing slash, such as /files or /files/s3. */
  path: string;
  datastore: DataStore;
  /** 0: no limit. */
  maxSize: number;
  /** Absolute base URL clients see, such as https://uploads.example.com; overrides Host. */
  publicUrl?: string;
  /** Trust X-Forwarded-Host/-Proto and Forwarded for the Location header. */
  trustProxy: boolean;
  locker?: Locker;
  /** DELETE may terminate finished uploads. */
  terminateFinished: boolean;
}

/** The protocol engine for one location. */
export function createTusServer(options: TusServerOptions): Server {
  const { publicUrl } = options;
  return new Server({
    path: options.path,
    datastore: options.datastore,
    ...(options.maxSize > 0 ? { maxSize: options.maxSize } : {}),
    respectForwardedHeaders: options.trustProxy,
    disableTerminationForFinishedUploads: !options.terminateFinished,
    // Partial uploads of the concatenation extension are marked in their metadata.
    onUploadCreate: async (req, upload) => markPartial(req, upload),
    locker: options.locker ?? new MemoryLocker(),
    // CORS is answered by the HTTP layer; an empty function keeps @tus/server from adding `*`.
    allowedOrigins: () => false,
    ...(publicUrl ? { generateUrl: (_req, { path, id }) => `${publicUrl}${path}/${id}` } : {}),
  });
}
