/**
 * Gates 3 to 5: shutting down (503), GET downloads (answered here, not by @tus/server), and
 * the protocol checks (412/415/400 from src/tus/protocol-guard.ts, the creation URL and the
 * creation limits, the IETF draft's append checks, pre-terminate).
 */
import type { Answer } from '../../tus/answer.js';
import { checkCreation, narrowLimits } from '../../tus/creation-limits.js';
import { checkTusRequest } from '../../tus/protocol-guard.js';
import { refuse } from '../../tus/refusals.js';
import { download } from '../download.js';
import { checkAppend } from '../ietf.js';
import type { DoorContext, GateResult } from './context.js';

export function shutdown({ o }: DoorContext): Answer | undefined {
  return o.tracker.draining ? refuse('shuttingDown') : undefined;
}

export async function downloads({ o, request, reply, id }: DoorContext): Promise<GateResult> {
  if (request.method !== 'GET') return undefined;
  if (!o.downloads) return refuse('downloadsDisabled');
  await download(request, reply, o.datastore, id);
  return 'answered';
}

export function protocol(c: DoorContext): Answer | undefined {
  const { o, request } = c;
  const { method } = request;
  const guard = checkTusRequest(method, request.headers);
  if (guard) return guard;
  if (method !== 'POST') return undefined;
  if (!isMountPath(request.url, o.path)) return refuse('notTheMountPath', o.path, new URL(request.url, 'http://x').pathname);
  // Metadata, type and length of the new upload, with the token's limits (final uploads too).
  const { limits } = o;
  const creation = {
    maxSize: o.maxSize,
    mimeTypes: [limits.mimeTypes],
    maxMetadataSize: limits.maxMetadataSize,
    maxMetadataKeys: limits.maxMetadataKeys,
  };
  return checkCreation(request.headers, narrowLimits(creation, c.grant));
}

/** An IETF append: the draft's problem answers, from the upload read once. */
export async function ietfAppend(c: DoorContext): Promise<Answer | undefined> {
  if (c.request.method !== 'PATCH' || !c.ietf || !c.id) return undefined;
  return checkAppend(c.request, c.ietf, await c.upload());
}

/** DELETE: pre-terminate, which may keep the upload (RejectTermination). */
export async function preTerminate(c: DoorContext): Promise<Answer | undefined> {
  if (c.request.method !== 'DELETE' || !c.o.hooks) return undefined;
  return c.o.hooks.beforeTerminate(c, c.request, c.id, () => c.upload());
}

function isMountPath(url: string, path: string): boolean {
  const pathname = new URL(url, 'http://relative').pathname.replace(/\/+$/, '');
  return pathname === path;
}
