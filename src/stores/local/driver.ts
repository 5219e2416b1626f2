/** The local driver's registry entry (../drivers.ts): uploads as files in a directory. */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { text } from '../../config/casting.js';
import { locationLimitsOf, locationLimitsSchema } from '../../config/location-limits.js';
import { defineDriver, type LocationLimits } from '../driver.js';

export const LOCAL_DRIVER = 'local';

export interface LocalLocation extends LocationLimits {
  readonly name: string;
  readonly driver: typeof LOCAL_DRIVER;
  /** Directory holding the uploads and their `.json` state. */
  readonly root: string;
}

export const localLocationSchema = z.object({
  DRIVER: z.string().optional(),
  ROOT: text('./uploads'),
  ...locationLimitsSchema,
});

export const localDriver = defineDriver({
  name: LOCAL_DRIVER,
  settings: {
    schema: () => localLocationSchema,
    secrets: [],
    location: (name, v): LocalLocation => ({ name, driver: LOCAL_DRIVER, root: v.ROOT ?? './uploads', ...locationLimitsOf(v) }),
  },
  // Imported when a location of this driver is configured: its client library is not loaded otherwise.
  createStore: async (location: LocalLocation, options) => (await import('./index.js')).createLocalStore(location, options),
  hookStorage(location) {
    const root = resolve(location.root);
    // The file's path as the store recorded it (its key, with a key template); InfoPath: the record, by id.
    return ({ id, storage }) => ({ Type: 'filestore', Path: storage?.path ?? join(root, id), InfoPath: join(root, `${id}.json`) });
  },
  notReady: (location, { name, reason, sentence, serving }) => ({
    details: { location: name, driver: LOCAL_DRIVER, root: location.root, error: reason },
    message: `Storage location "${name}" (directory ${location.root}) is not ready at start: ${sentence} Check that STORAGE_${name.toUpperCase()}_ROOT exists or can be made, and is writable by this process. ${serving} a directory made writable later is used without a restart.`,
  }),
  capabilities: {
    warnWithoutAuth: false,
    keyTemplates: true,
    sockets: () => 0,
  },
});
