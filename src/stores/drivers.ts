/**
 * The driver registry: one entry per storage driver (driver.ts says what an entry holds). A new
 * driver is a folder under src/stores/ exporting its entry, and one line in DRIVERS. This is
 * the only module that tells drivers apart by name.
 */
import type { z } from 'zod';
import { azureDriver } from './azure/driver.js';
import type { Driver, LocationBase } from './driver.js';
import { localDriver } from './local/driver.js';
import { s3Driver } from './s3/driver.js';

/** Every driver, in the order STORAGE_<LOC>_DRIVER's problems list them. */
export const DRIVERS = [localDriver, s3Driver, azureDriver] as const;

type LocationOf<D> = D extends Driver<infer L, z.ZodObject> ? L : never;
/** A configured storage location, of any driver. */
export type Location = LocationOf<(typeof DRIVERS)[number]>;
export type DriverName = Location['driver'];

/** The zero-configuration start: with STORAGE_LOCATIONS unset, one location of this name and driver. */
export const ZERO_CONFIG_LOCATION = localDriver.name;

export const DRIVER_NAMES: readonly DriverName[] = DRIVERS.map((d) => d.name);

/**
 * Drivers Directus accepts that are not shipped here, and what to use instead: a Directus
 * `.env` naming one is refused with this advice rather than a bare "unknown driver".
 */
const INSTEAD_OF: Readonly<Record<string, string>> = {
  gcs:
    'no GCS emulator installable here runs multi-chunk resumable sessions or compose, so no gcs driver is shipped untested; ' +
    'Google Cloud Storage works through the s3 driver on its XML API with an HMAC key: ' +
    'DRIVER=s3, ENDPOINT=https://storage.googleapis.com, REGION=auto, KEY and SECRET the HMAC key (docs/configuration.md, "Google Cloud Storage")',
};

/** What to use instead of a driver that is not shipped, undefined for any other name. */
export function insteadOf(name: string): string | undefined {
  return Object.hasOwn(INSTEAD_OF, name) ? INSTEAD_OF[name] : undefined;
}

/** The entry of STORAGE_<LOC>_DRIVER's value, undefined for an unknown one. */
export function driverNamed(name: string): Driver<Location> | undefined {
  // Each entry's callbacks take its own location type only: the registry pairs them, by name.
  return DRIVERS.find((d) => d.name === name) as Driver<Location> | undefined;
}

/** The entry of a location's driver. */
export function driverOf<L extends Location>(location: L): Driver<L> {
  return driverNamed(location.driver) as Driver<L>;
}

/** Suffixes each driver reads (STORAGE_<LOC>_<SUFFIX>), to warn about misspelt variables. */
export function settingsOf(driver: Driver<LocationBase>): readonly string[] {
  return Object.keys(driver.settings.schema({ chunkSize: undefined }).shape);
}
