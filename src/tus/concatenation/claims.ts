/**
 * The limits on what concatenation writes: a final lists at most TUS_CONCAT_MAX_PARTS
 * partials, and each partial's bytes go into at most TUS_CONCAT_MAX_USES finals (a partial
 * listed twice counts twice). Each partial records the finals that claimed it, in order
 * (FINALS_KEY); the first claims are honoured.
 */
import type { Upload } from '@tus/utils';
import type { Concatenator } from '../../stores/capabilities.js';
import type { FinalListing } from './header.js';
import { FINALS_KEY } from './marks.js';
import { distinct } from './partials.js';

/** How much concatenation may write (0: no limit). */
export interface ConcatLimits {
  /** Partials one final upload may list (TUS_CONCAT_MAX_PARTS). */
  maxParts: number;
  /** Final uploads one partial's bytes may go into, a partial listed twice counting twice (TUS_CONCAT_MAX_USES). */
  maxUses: number;
}

/** The finals that claimed `upload`, in order, once per listing. */
export const claimsOf = (upload: Upload): string[] => upload.metadata?.[FINALS_KEY]?.split(' ').filter(Boolean) ?? [];

/** How many times each id is listed. */
export function listings(ids: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** Why a new final listing `partial` `times` times may not use it (its claims so far count), or undefined. */
function useProblem(partial: Upload, url: string, times: number, maxUses: number): string | undefined {
  if (maxUses === 0) return undefined;
  const used = claimsOf(partial).length;
  if (used + times <= maxUses) return undefined;
  const allowed = `a partial upload's bytes may go into final uploads ${maxUses} time${maxUses === 1 ? '' : 's'} (TUS_CONCAT_MAX_USES)`;
  return used === 0
    ? `Upload-Concat: ${url} is listed ${times} times; ${allowed}; nothing was created`
    : `Upload-Concat: ${url} is already used by ${used === 1 ? 'a final upload' : `${used} final uploads`}, and ${allowed}: upload those bytes again as a new partial upload; nothing was created`;
}

/** Why a new final of `listing` may not use the partials `current` (as read now), or undefined. */
export function overuse(current: readonly Upload[], { urls, ids }: FinalListing, maxUses: number): string | undefined {
  const counts = listings(ids);
  return distinct(current)
    .map((p) => useProblem(p, urls[ids.indexOf(p.id)] as string, counts.get(p.id) ?? 0, maxUses))
    .find(Boolean);
}

/** The claims of `partial` with `finalId`'s `times` claims recorded (appended where missing). */
export function withClaims(partial: Upload, finalId: string, times: number): string[] {
  const claims = claimsOf(partial);
  const missing = times - claims.filter((claim) => claim === finalId).length;
  return [...claims, ...Array<string>(Math.max(0, missing)).fill(finalId)];
}

/** `partial`'s metadata with `finalId`'s `times` claims recorded. */
export const claimedMetadata = (partial: Upload, finalId: string, times: number) => ({
  ...partial.metadata,
  [FINALS_KEY]: withClaims(partial, finalId, times).join(' '),
});

/** Record `finalId`'s claims on each partial (a store write only where one is missing). */
export async function recordClaims(
  store: Concatenator,
  partials: readonly Upload[],
  finalId: string,
  counts: Map<string, number>,
): Promise<void> {
  for (const partial of partials) {
    const claims = withClaims(partial, finalId, counts.get(partial.id) ?? 0);
    if (claims.length === claimsOf(partial).length) continue;
    await store.setMetadata(partial.id, { ...partial.metadata, [FINALS_KEY]: claims.join(' ') });
  }
}
