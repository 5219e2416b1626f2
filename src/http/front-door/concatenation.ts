/**
 * Gate 6, concatenation (src/tus/concatenation.ts does the work): a POST of a final upload is
 * created here, with its locks and events; a PATCH to a final upload is refused (403); a HEAD
 * of a final upload still waiting for its partials is answered from them, assembling it once
 * they are all finished.
 */
import { ownedRead } from '../../auth/ownership.js';
import { mergeAnswer } from '../../hooks/answers.js';
import { isConcatenator, readWithoutLock } from '../../stores/capabilities.js';
import type { Answer } from '../../tus/answer.js';
import { createFinal, isFinalUpload, parseConcatHeader, waitingFinalHead } from '../../tus/concatenation.js';
import { refuse } from '../../tus/refusals.js';
import { linkWeb } from '../../tus/web-request.js';
import { effectiveMaxSize } from './authorize.js';
import { type DoorContext, header } from './context.js';
import { webHeaders } from './hand-over.js';
import { baseUrl } from './request-line.js';

export async function concatenation(c: DoorContext): Promise<Answer | undefined> {
  const { method } = c.request;
  const concat = header(c, 'upload-concat');
  if (method === 'POST' && concat !== undefined && concat !== 'partial') return createFinalUpload(c, concat);
  if (method === 'PATCH' && c.id) {
    const upload = await c.upload();
    return upload && isFinalUpload(upload) ? refuse('patchToFinal') : undefined;
  }
  if (method === 'HEAD' && c.id) return waitingFinal(c);
  return undefined;
}

/** concatenation-unfinished: the HEAD of a final upload still waiting for its partials (answered by the concatenation module). */
async function waitingFinal(c: DoorContext): Promise<Answer | undefined> {
  const upload = await c.upload();
  if (!upload) return undefined;
  const { o } = c;
  const store = o.datastore;
  const read = (id: string) => readWithoutLock(store, id);
  const { maxUses } = o.limits.concat;
  return waitingFinalHead(upload, { store, read, locker: o.locker, maxSize: o.maxSize, maxUses, engine: o.engine, log: c.request.log });
}

/** `POST` with `Upload-Concat: final;...`: created by the concatenation module, tracked for shutdown. */
async function createFinalUpload(c: DoorContext, concat: string): Promise<Answer> {
  const { o, request, grant } = c;
  const parsed = parseConcatHeader(concat, o.path);
  if (parsed.kind === 'invalid') return refuse('badConcatHeader', parsed.message);
  if (parsed.kind !== 'final' || !isConcatenator(o.datastore)) return refuse('noConcatenation');
  const { hooks } = o;
  const webRequest = linkWeb(new Request(new URL(request.url, 'http://localhost'), { method: request.method, headers: webHeaders(c) }), c);
  hooks?.attach(c, request);
  const creation = createFinal({
    request: webRequest,
    ...(hooks
      ? { preCreate: (upload) => hooks.preCreateFinal(webRequest, upload), preFinish: (upload) => hooks.preFinish(webRequest, upload) }
      : {}),
    header: parsed,
    metadataHeader: header(c, 'upload-metadata'),
    lengthHeader: header(c, 'upload-length'),
    path: o.path,
    maxSize: effectiveMaxSize(o.maxSize, grant),
    limits: o.limits.concat,
    store: o.datastore,
    // Another subject's partial does not exist for this one.
    read: ownedRead((upload) => readWithoutLock(o.datastore, upload), grant),
    locker: o.locker,
    engine: o.engine,
    owner: grant?.owner,
    subject: grant?.subject,
    idPrefix: grant?.prefix,
    tokenMaxSize: grant?.maxSize,
    urlOf: (newId) => `${baseUrl(c)}${o.path}/${newId}`,
  })
    .then(async (answer) => {
      const hook = await hooks?.settle(c, answer.status);
      return hook ? mergeAnswer(answer, hook) : answer;
    })
    .finally(() => hooks?.end(c));
  o.tracker.track(request.raw, creation);
  return creation;
}
