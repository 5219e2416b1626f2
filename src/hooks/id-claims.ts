/**
 * Upload ids a pre-create hook chose (ChangeFileInfo.ID), held from the check that the id is
 * unused until the request that creates the upload ends. Two creations given the same id both
 * found it unused, and the second replaced the first, owner included. Once the request is over
 * the upload itself, in the store, keeps the id in use (the check finds it); a store that can
 * also refuses to create an upload whose id exists (src/stores/creation-intent.ts).
 *
 * One instance holds its claims in memory; instances sharing a location hold them in Redis
 * (src/redis/id-claims.ts), where a claim of a crashed instance expires.
 */
import type { TusError } from './answers.js';

export interface IdClaim {
  /** Let the id go (once; later calls do nothing). */
  release(): Promise<void>;
}

export interface IdClaims {
  /** Hold `id` of `location` for one creation; undefined when another creation holds it. Rejects with a TusError when claims cannot be made. */
  claim(location: string, id: string): Promise<IdClaim | undefined>;
}

/** What the client hears when the claims cannot be made (Redis does not answer). */
export const CLAIMS_UNAVAILABLE: TusError = Object.freeze({
  status_code: 503,
  body: 'The upload id the pre-create hook chose cannot be claimed (Redis does not answer); nothing was created, retry in a moment\n',
});

/** One instance's claims. */
export class MemoryIdClaims implements IdClaims {
  private readonly held = new Set<string>();

  async claim(location: string, id: string): Promise<IdClaim | undefined> {
    const key = JSON.stringify([location, id]);
    if (this.held.has(key)) return undefined;
    this.held.add(key);
    return {
      release: async () => {
        this.held.delete(key);
      },
    };
  }
}
