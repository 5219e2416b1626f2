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

/** Prefixes only this server's settings use: a name under one that it does not read is a typo (HOOKS_EVENTS). */
const OWN_PREFIXES = ['HOOKS_', 'TUS_', 'SERVER_', 'METRICS_'];
/**
 * Not settings, yet expected there: Directus's own (a .env the two share), the Node cache of
 * scripts/runtime.mjs, and the variables Kubernetes gives a pod for every Service (a Service
 * named tus-s3-server gives TUS_S3_SERVER_SERVICE_HOST, TUS_S3_SERVER_PORT_80_TCP_ADDR, ...).
 */
const EXPECTED = new Set(['TUS_ENABLED', 'METRICS_SCHEDULE', 'METRICS_SERVICES', 'SERVER_SHUTDOWN_TIMEOUT', 'TUS_NODE_CACHE']);
const SERVICE_LINK = /_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$/;

/**
 * The variables of `env` under this server's own prefixes that it does not read, each with the
 * settings it has under that prefix (for the start-up warning). STORAGE_<LOC>_ names are checked
 * by their driver instead (parseLocation).
 */
export function ignoredServerVariables(env: Env): Array<{ name: string; known: string[] }> {
  const known = new Set(SERVER_VARIABLES);
  return Object.keys(env)
    .filter((name) => {
      const base = name.replace(/_FILE$/, '');
      return OWN_PREFIXES.some((p) => name.startsWith(p)) && !known.has(base) && !EXPECTED.has(base) && !SERVICE_LINK.test(name);
    })
    .sort()
    .map((name) => {
      const prefix = OWN_PREFIXES.find((p) => name.startsWith(p)) as string;
      return { name, known: SERVER_VARIABLES.filter((v) => v.startsWith(prefix)) };
    });
}

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
