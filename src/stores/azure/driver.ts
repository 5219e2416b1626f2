/** The azure driver's registry entry (../drivers.ts): Azure Blob Storage containers. */
import { defineDriver } from '../driver.js';
import { MAX_BLOCK_SIZE, MIN_BLOCK_SIZE } from './block-size.js';
import { AZURE_DRIVER, type AzureLocation, azureCrossChecks, azureLocationOf, azureLocationSchema } from './config.js';

export const azureDriver = defineDriver({
  name: AZURE_DRIVER,
  settings: {
    // TUS_CHUNK_SIZE (S3's part size, up to 5 GiB) as the default, within Azure's block sizes.
    schema: ({ chunkSize }) => azureLocationSchema(Math.min(Math.max(chunkSize ?? MIN_BLOCK_SIZE, MIN_BLOCK_SIZE), MAX_BLOCK_SIZE)),
    secrets: ['ACCOUNT_KEY'],
    crossChecks: azureCrossChecks,
    location: azureLocationOf,
  },
  // Imported when a location of this driver is configured: its client library is not loaded otherwise.
  createStore: async (location: AzureLocation, options) => (await import('./index.js')).createAzureStore(location, options),
  // As tusd's azurestore reports it; the blob the store recorded (a key template's, or `<root><id>`).
  hookStorage:
    (location) =>
    ({ id, storage }) => ({ Type: 'azurestore', Container: location.container, Key: storage?.path ?? `${location.root}${id}` }),
  notReady(location, { name, reason, sentence, serving }) {
    const create = /\(ContainerNotFound\b/.test(reason)
      ? ` Create the container (az storage container create --name ${location.container}) or correct STORAGE_${name.toUpperCase()}_CONTAINER_NAME.`
      : '';
    return {
      details: { location: name, driver: AZURE_DRIVER, container: location.container, error: reason },
      message: `Storage location "${name}" (container "${location.container}") is not ready at start: ${sentence}${create} ${serving} a container created or a key corrected later is used without a restart.`,
    };
  },
  capabilities: {
    warnWithoutAuth: true,
    keyTemplates: true,
    // The SDK's HTTP agent keeps a socket per request in flight: blocks, plus state reads and writes.
    sockets: (location) => location.partConcurrency * 2 + 16,
    partMemory: {
      variable: 'PART_MEMORY',
      of: (location) => location.partMemory,
      chunkSize: (location) => location.chunkSize,
      with: (location, partMemory) => ({ ...location, partMemory }),
    },
  },
});
