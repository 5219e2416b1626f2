/**
 * What a storage driver provides: the interface every entry of the registry (drivers.ts)
 * implements, so the compiler lists what a new driver is missing. The rest of the code asks a
 * location's entry and never compares driver names.
 */
import type { DataStore, Upload } from '@tus/utils';
import type { z } from 'zod';
import type { StoreOptions } from './index.js';
import type { KeyTemplate } from './key-template.js';

/** What one location may set for itself, whatever its driver (STORAGE_<LOC>_MAX_UPLOAD_SIZE, _MIME_TYPE_ALLOW_LIST, _KEY_TEMPLATE). */
export interface LocationLimits {
  /** Replaces FILES_MAX_UPLOAD_SIZE for this location (0: no limit); undefined: the server's. */
  readonly maxUploadSize?: number;
  /** Replaces FILES_MIME_TYPE_ALLOW_LIST for this location; undefined: the server's. */
  readonly mimeTypeAllowList?: readonly string[];
  /** Where its uploads' objects go (STORAGE_<LOC>_KEY_TEMPLATE, key-template.ts); undefined: `<root><id>`. */
  readonly keyTemplate?: KeyTemplate;
}

/** What every location has, whatever its driver. */
export interface LocationBase extends LocationLimits {
  readonly name: string;
  /** The driver's name (STORAGE_<LOC>_DRIVER). */
  readonly driver: string;
}

/**
 * Where a location keeps an upload, as tusd's stores describe it in a hook's `Storage`: from
 * the key or path the store recorded (`upload.storage.path`, a key template's key), the id's
 * when the upload carries none.
 */
export type StorageOf = (upload: Pick<Upload, 'id' | 'storage'>) => Record<string, string>;

/** A problem with one variable, keyed by its suffix after `STORAGE_<LOC>_`. */
export interface SettingProblem {
  key: string;
  message: string;
}

/** The variables of a location of this driver (`STORAGE_<LOC>_<SUFFIX>`) and how they become its location. */
export interface DriverSettings<L extends LocationBase, S extends z.ZodObject = z.ZodObject> {
  /** The variables' schema, keyed by suffix; `chunkSize` is TUS_CHUNK_SIZE, the server's default part size
   * (undefined when it is itself invalid). */
  schema(defaults: { chunkSize: number | undefined }): S;
  /** Suffixes whose values are credentials: problems show them as `(hidden)`. */
  readonly secrets: readonly string[];
  /** Rules between variables, on the raw values, reported together with the schema's problems. */
  crossChecks?(raw: Record<string, string | undefined>): SettingProblem[];
  /** The typed location from its validated values. */
  location(name: string, values: z.output<S>): L;
}

/** What the start-up warning of a location that is not ready says around the driver's part. */
export interface NotReady {
  /** The location's name. */
  name: string;
  /** Why, without the `Storage location "<name>": ` prefix. */
  reason: string;
  /** The reason as a sentence. */
  sentence: string;
  /** The common sentence on what the server does meanwhile. */
  serving: string;
}

/** What the server does differently for a driver, besides the store's own capabilities (capabilities.ts). */
export interface DriverCapabilities<L extends LocationBase> {
  /** Storage reachable by others (a bucket): starting with authentication off is warned about. */
  readonly warnWithoutAuth: boolean;
  /**
   * Its store puts each upload at `location.keyTemplate`'s key (key-template.ts: computed once at
   * creation, recorded, reported by hooks); false: STORAGE_<LOC>_KEY_TEMPLATE refuses the start.
   */
  readonly keyTemplates: boolean;
  /** Sockets the location's store may hold open, reserved from the open-file limit besides client connections. */
  sockets(location: L): number;
  /** Memory the store holds for parts, sized from a container's memory limit unless set (src/config/memory.ts); absent: none. */
  readonly partMemory?: {
    /** The variable's suffix (STORAGE_<LOC>_<variable>). */
    readonly variable: string;
    of(location: L): number;
    /** The part size: two parts are the least the store works with. */
    chunkSize(location: L): number;
    with(location: L, bytes: number): L;
  };
}

/** One storage driver: one folder under src/stores/ and one line in drivers.ts. */
export interface Driver<L extends LocationBase, S extends z.ZodObject = z.ZodObject> {
  /** The value of STORAGE_<LOC>_DRIVER. */
  readonly name: L['driver'];
  readonly settings: DriverSettings<L, S>;
  /** The tus DataStore of one location (the driver's modules and client library loaded then, not before). */
  createStore(location: L, options: StoreOptions): Promise<DataStore>;
  /** What hooks report as an upload's `Storage` (tusd's `{Type, ...}`). */
  hookStorage(location: L): StorageOf;
  /** The start-up warning when the location's readiness probe fails. */
  notReady(location: L, context: NotReady): { details: Record<string, unknown>; message: string };
  readonly capabilities: DriverCapabilities<L>;
}

/** Checks an entry against the interface while keeping its own location and schema types. */
export function defineDriver<L extends LocationBase, S extends z.ZodObject>(driver: Driver<L, S>): Driver<L, S> {
  return driver;
}
