/** The app (in-process) on the Azure test location (Azurite). */
import type { ContainerClient } from '@azure/storage-blob';
import type { Test } from 'tap';
import { createUpload, type RunningApp, startAppFor } from './app.js';
import { type AzureTestServer, azureLocationEnv, azureTestServer, verifyContainer } from './azure.js';
import { randomData } from './bytes.js';
import { lastSegment } from './ids.js';
import { uniqueRoot } from './s3.js';

export interface AzureApp {
  server: AzureTestServer;
  /** A client of the test container, to check what the server stored. */
  container: ContainerClient;
  root: string;
  app: RunningApp;
}

/** The app on the Azure test server under a fresh root named after `name` (`extra`: more variables), closed with the test. */
export async function appOnAzure(t: Test, name: string, extra: Record<string, string> = {}): Promise<AzureApp> {
  const server = azureTestServer();
  const root = uniqueRoot(name);
  const app = await startAppFor(t, azureLocationEnv(server, root, extra));
  return { server, container: verifyContainer(server), root, app };
}

/** `appOnAzure`, and an upload created there for `size` random bytes: the bytes, its URL, id and blob name. */
export async function uploadOnAzure(t: Test, name: string, size: number, extra: Record<string, string> = {}) {
  const on = await appOnAzure(t, name, extra);
  const data = randomData(size);
  const url = await createUpload(on.app.url, data.length);
  const id = lastSegment(url);
  return { ...on, data, url, id, blob: `${on.root}${id}` };
}
