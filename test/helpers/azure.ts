/** The Azure Blob Storage test server (Azurite, started by scripts/azurite-server.sh, or any given by AZURE_TEST_*). */
import { createHash } from 'node:crypto';
import { type BlobGetPropertiesResponse, BlobServiceClient, type ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { serverEnv } from './server-env.js';

export interface AzureTestServer {
  /** The account's blob endpoint, such as http://127.0.0.1:27300/devstoreaccount1 */
  endpoint: string;
  account: string;
  key: string;
  container: string;
}

export function azureTestServer(): AzureTestServer {
  const env = serverEnv('.azure-test', 'AZURE_TEST_ENDPOINT');
  if (!env.AZURE_TEST_ENDPOINT || !env.AZURE_TEST_ACCOUNT || !env.AZURE_TEST_KEY) {
    throw new Error(
      'No Azure test server: run `npm test` (it starts Azurite), or `bash scripts/azurite-server.sh start`, or set AZURE_TEST_ENDPOINT, AZURE_TEST_ACCOUNT, AZURE_TEST_KEY, AZURE_TEST_CONTAINER',
    );
  }
  return {
    endpoint: env.AZURE_TEST_ENDPOINT,
    account: env.AZURE_TEST_ACCOUNT,
    key: env.AZURE_TEST_KEY,
    container: env.AZURE_TEST_CONTAINER || 'tus-test',
  };
}

/** Environment of an azure location named "azure" as the default location. */
export function azureLocationEnv(server: AzureTestServer, root: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    STORAGE_LOCATIONS: 'azure',
    STORAGE_AZURE_DRIVER: 'azure',
    STORAGE_AZURE_CONTAINER_NAME: server.container,
    STORAGE_AZURE_ACCOUNT_NAME: server.account,
    STORAGE_AZURE_ACCOUNT_KEY: server.key,
    STORAGE_AZURE_ENDPOINT: server.endpoint,
    STORAGE_AZURE_ROOT: root,
    ...extra,
  };
}

/** A client of the test container, to check what the server stored. */
export function verifyContainer(server: AzureTestServer): ContainerClient {
  const credential = new StorageSharedKeyCredential(server.account, server.key);
  return new BlobServiceClient(server.endpoint, credential).getContainerClient(server.container);
}

/** Names of the blobs under `prefix`, uncommitted ones (staged blocks only) included, sorted. */
export async function listBlobs(container: ContainerClient, prefix: string): Promise<string[]> {
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat({ prefix, includeUncommitedBlobs: true })) names.push(blob.name);
  return names.sort();
}

/** The blobs under a location's root but its readiness probe's (`<root>.tus-readyz`). */
export async function storedBlobs(container: ContainerClient, root: string): Promise<string[]> {
  return (await listBlobs(container, root)).filter((name) => name !== `${root}.tus-readyz`);
}

export async function blobSha256(container: ContainerClient, name: string): Promise<{ sha256: string; size: number }> {
  const res = await container.getBlobClient(name).download();
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of res.readableStreamBody as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}

export function blobProperties(container: ContainerClient, name: string): Promise<BlobGetPropertiesResponse> {
  return container.getBlobClient(name).getProperties();
}

/** Blocks of a blob: committed and staged (uncommitted); none of either for a blob that does not exist. */
export async function blocksOf(container: ContainerClient, name: string): Promise<{ committed: number; uncommitted: number }> {
  try {
    const list = await container.getBlockBlobClient(name).getBlockList('all');
    return { committed: list.committedBlocks?.length ?? 0, uncommitted: list.uncommittedBlocks?.length ?? 0 };
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return { committed: 0, uncommitted: 0 };
    throw error;
  }
}

/** Removes every blob under `prefix` (a test's own root), uncommitted blocks too. */
export async function removeBlobs(container: ContainerClient, prefix: string): Promise<void> {
  for (const name of await listBlobs(container, prefix)) {
    const blob = container.getBlockBlobClient(name);
    // A blob of staged blocks only is removed by committing it empty first.
    await blob.commitBlockList([]).catch(() => undefined);
    await blob.deleteIfExists();
  }
}
