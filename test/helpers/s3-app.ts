/** The app (in-process) on the S3 test location. */
import type { Test } from 'tap';
import { createUpload, type RunningApp, startAppFor } from './app.js';
import { randomData } from './bytes.js';
import { lastSegment } from './ids.js';
import { type S3TestServer, s3LocationEnv, uniqueRoot } from './s3.js';

/** The app on `server` under a fresh root named after `name`, closed with the test. */
export async function appOnS3(t: Test, server: S3TestServer, name: string): Promise<{ root: string; app: RunningApp }> {
  const root = uniqueRoot(name);
  const app = await startAppFor(t, s3LocationEnv(server, root));
  return { root, app };
}

/** `appOnS3`, and an upload created there for `size` random bytes: the bytes, its URL and id. */
export async function uploadOnS3(t: Test, server: S3TestServer, name: string, size: number) {
  const { root, app } = await appOnS3(t, server, name);
  const data = randomData(size);
  const url = await createUpload(app.url, data.length);
  return { root, app, data, url, id: lastSegment(url) };
}
