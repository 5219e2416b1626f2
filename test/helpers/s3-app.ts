/** The app (in-process) on the S3 test location. */
import type { Test } from 'tap';
import { type RunningApp, startAppFor } from './app.js';
import { type S3TestServer, s3LocationEnv, uniqueRoot } from './s3.js';

/** The app on `server` under a fresh root named after `name`, closed with the test. */
export async function appOnS3(t: Test, server: S3TestServer, name: string): Promise<{ root: string; app: RunningApp }> {
  const root = uniqueRoot(name);
  const app = await startAppFor(t, s3LocationEnv(server, root));
  return { root, app };
}
