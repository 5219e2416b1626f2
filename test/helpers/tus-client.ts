/** Drive the real tus-js-client (Node build) against a running server. */
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tus from 'tus-js-client';

// FileUrlStorage is exported by the Node build but missing from the package's types.
const { FileUrlStorage } = tus as unknown as { FileUrlStorage: new (path: string) => tus.UrlStorage };

export interface ClientUpload {
  url: string;
  /** Offset the resumed upload started from (0 when it was not resumed). */
  resumedFrom: number;
}

function run(upload: tus.Upload): Promise<void> {
  return new Promise((resolve, reject) => {
    upload.options.onSuccess = () => resolve();
    upload.options.onError = (error) => reject(error);
    upload.start();
  });
}

/** Upload a file in chunks; returns the upload URL. */
export async function uploadFile(endpoint: string, path: string, options: Partial<tus.UploadOptions> = {}): Promise<string> {
  const upload = new tus.Upload(createReadStream(path), {
    endpoint,
    chunkSize: 8 * 1024 * 1024,
    retryDelays: [0, 500, 1000],
    metadata: { filename: 'file.bin', filetype: 'application/octet-stream' },
    ...options,
  });
  await run(upload);
  return upload.url as string;
}

/**
 * Start an upload, abort it once `stopAfter` bytes are acknowledged, then resume it in a
 * fresh Upload found through findPreviousUploads, as an app would after a restart.
 */
export async function uploadInterruptedThenResume(
  endpoint: string,
  path: string,
  stopAfter: number,
  options: Partial<tus.UploadOptions> = {},
): Promise<ClientUpload> {
  // The URL storage file (and proper-lockfile's .lock next to it) in a directory of its own, removed when done.
  const dir = mkdtempSync(join(tmpdir(), 'tus-url-storage-'));
  try {
    return await interruptThenResume(path, stopAfter, { endpoint, urlStorage: new FileUrlStorage(join(dir, 'urls.json')), ...options });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function interruptThenResume(path: string, stopAfter: number, options: Partial<tus.UploadOptions>): Promise<ClientUpload> {
  const base = {
    chunkSize: 8 * 1024 * 1024,
    retryDelays: [0, 500, 1000],
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: false,
    metadata: { filename: 'resumed.bin', filetype: 'application/octet-stream' },
    ...options,
  };
  const first = new tus.Upload(createReadStream(path), base);
  await new Promise<void>((resolve, reject) => {
    first.options.onChunkComplete = (_size, accepted) => {
      if (accepted >= stopAfter) first.abort().then(resolve, reject);
    };
    first.options.onError = reject;
    first.options.onSuccess = () => reject(new Error('finished before the interruption'));
    first.start();
  });
  const second = new tus.Upload(createReadStream(path), base);
  const previous = await second.findPreviousUploads();
  if (previous.length === 0) throw new Error('findPreviousUploads found nothing');
  second.resumeFromPreviousUpload(previous[0] as tus.PreviousUpload);
  let resumedFrom = -1;
  second.options.onProgress = (sent) => {
    if (resumedFrom < 0) resumedFrom = sent;
  };
  second.options.onUploadUrlAvailable = () => {};
  await run(second);
  if (second.url !== first.url) throw new Error(`resumed into a new upload ${second.url} instead of ${first.url}`);
  return { url: second.url as string, resumedFrom };
}

/** One upload of `data` by tus-js-client with `options` (a cluster's checks: two retries); resolves once it succeeded. */
export function tusUpload(data: Buffer, options: Partial<tus.UploadOptions>): Promise<tus.Upload> {
  return new Promise((resolve, reject) => {
    const u = new tus.Upload(data, {
      retryDelays: [0, 500],
      metadata: { filename: 'cluster.bin', filetype: 'application/octet-stream' },
      ...options,
      onSuccess: () => resolve(u),
      onError: reject,
    });
    u.start();
  });
}
