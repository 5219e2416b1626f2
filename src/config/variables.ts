/**
 * The names the configuration reads, to check a deployment's environment (compose files,
 * Kubernetes manifests): the server ignores a variable it does not read, so a misspelt one would
 * go unnoticed. Names follow parseConfig: the server schema, STORAGE_LOCATIONS, CONFIG_PATH, and
 * for each listed location STORAGE_<LOC>_DRIVER and its driver's suffixes.
 */
import { driverNamed, settingsOf, ZERO_CONFIG_LOCATION } from '../stores/drivers.js';
import { type Env, locationPrefix } from './env.js';
import { serverSchema } from './schema.js';

const SERVER_VARIABLES: readonly string[] = [...Object.keys(serverSchema.shape), 'STORAGE_LOCATIONS', 'CONFIG_PATH'];

/** The variables of `env` the configuration does not read; `<NAME>_FILE` counts as `<NAME>`. */
export function unknownVariables(env: Env): string[] {
  const known = new Set(SERVER_VARIABLES);
  const listed = env.STORAGE_LOCATIONS?.trim();
  for (const name of (listed || ZERO_CONFIG_LOCATION).split(',')) {
    const prefix = locationPrefix(name);
    known.add(`${prefix}DRIVER`);
    const driver = driverNamed(env[`${prefix}DRIVER`]?.trim() || (listed ? '' : ZERO_CONFIG_LOCATION));
    for (const suffix of driver ? settingsOf(driver) : []) known.add(`${prefix}${suffix}`);
  }
  return Object.keys(env).filter((name) => !known.has(name) && !known.has(name.replace(/_FILE$/, '')));
}
