/** The local driver's registry entry (../drivers.ts): uploads as files in a directory. */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { text } from '../../config/casting.js';
import { locationLimitsOf, locationLimitsSchema } from '../../config/location-limits.js';
import { defineDriver, type LocationLimits } from '../driver.js';
import { createLocalStore } from './index.js';

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
  createStore: (location: LocalLocation, options) => createLocalStore(location, options),
  hookStorage(location) {
    const root = resolve(location.root);
    return (id) => ({ Type: 'filestore', Path: join(root, id), InfoPath: join(root, `${id}.json`) });
  },
  notReady: (location, { name, reason, sentence, serving }) => ({
    details: { location: name, driver: LOCAL_DRIVER, root: location.root, error: reason },
    message: `Storage location "${name}" (directory ${location.root}) is not ready at start: ${sentence} Check that STORAGE_${name.toUpperCase()}_ROOT exists or can be made, and is writable by this process. ${serving} a directory made writable later is used without a restart.`,
  }),
  capabilities: {
    warnWithoutAuth: false,
    sockets: () => 0,
  },
});
