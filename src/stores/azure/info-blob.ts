/**
 * An upload's state (`<id>.info`, JSON) and its names, read and written at a version (the ETag
 * this upload last read or wrote): a writer whose view is stale fails (STATE_CHANGED) instead
 * of overwriting a newer state.
 */

import type { BlockPlan } from './block-size.js';
import type { AzureContainer } from './container.js';
import { StoreError } from './errors.js';

/** Persisted as `<id>.info`. */
export interface AzureUploadInfo {
  version: 1;
  id: string;
  size?: number;
  metadata?: Record<string, string | null>;
  creation_date: string;
  /** Name of the upload's block blob. */
  blob: string;
  plan: BlockPlan;
}

/** Blob names of one upload under the location's root. */
export interface UploadNames {
  /** The block blob: the upload's bytes, staged, then committed. */
  blob: string;
  info: string;
  /** Bytes that do not fill a block yet. */
  tail: string;
}

export function uploadNames(root: string, id: string): UploadNames {
  const blob = `${root}${id}`;
  return { blob, info: `${blob}.info`, tail: `${blob}.part` };
}

/** The upload id of an `.info` blob's name, or undefined for any other. */
export function idFromInfoName(root: string, name: string): string | undefined {
  if (!name.startsWith(root) || !name.endsWith('.info')) return undefined;
  const id = name.slice(root.length, -'.info'.length);
  return id && !id.includes('/') ? id : undefined;
}

export class InfoBlob {
  /** ETag as last read or written (undefined: none yet). */
  private etag: string | undefined;

  constructor(
    private readonly container: AzureContainer,
    private readonly name: string,
  ) {}

  /** The state, or undefined when there is none. Never writes. */
  async read(): Promise<AzureUploadInfo | undefined> {
    const state = await this.container.readState(this.name);
    if (state === undefined) return undefined;
    try {
      const info = JSON.parse(state.text) as AzureUploadInfo;
      this.etag = state.etag;
      return info;
    } catch {
      throw new StoreError(
        500,
        `Storage location "${this.container.location.name}": ${this.name} is not valid JSON; the upload's state is damaged.\n`,
      );
    }
  }

  /** Create it, refused (UploadIdTaken) when it exists. */
  async create(info: AzureUploadInfo): Promise<void> {
    this.etag = await this.container.putNew(this.name, Buffer.from(JSON.stringify(info)), 'application/json');
  }

  /** Write it over the version known here (If-Match), unconditionally when none is known. */
  async save(info: AzureUploadInfo): Promise<void> {
    this.etag = await this.container.putState(this.name, Buffer.from(JSON.stringify(info)), this.etag);
  }
}
