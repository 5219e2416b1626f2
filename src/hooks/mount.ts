/**
 * Hooks at the points of one mount's request path, tusd's semantics throughout:
 * - pre-create: inside @tus/server's naming function (and `createFinal` for the final upload
 *   of a concatenation): RejectUpload answers with the hook's HTTPResponse (400 by default);
 *   ChangeFileInfo.ID names the upload (it must be a valid upload id), ChangeFileInfo.MetaData
 *   replaces the client's metadata (`applyCreateMetadata`, in onUploadCreate);
 * - pre-finish: in onUploadFinish, its HTTPResponse merged into the answer;
 * - pre-terminate: in the front door before @tus/server sees a DELETE; RejectTermination keeps it;
 * - post-receive: while a body is read (`receiving`), throttled; StopUpload stops the body,
 *   removes the upload under its lock and answers with the hook's HTTPResponse;
 * - post-create (best effort), post-finish and post-terminate (durable) from the engine's events.
 * Blocking hooks fail closed (answers.ts).
 */
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { type DataStore, EVENTS, Upload } from '@tus/utils';
import type { FastifyRequest } from 'fastify';
import { grantOf } from '../auth/ownership.js';
import { intend } from '../stores/creation-intent.js';
import { type Answer, plain } from '../tus/answer.js';
import { clientMetadata } from '../tus/concatenation.js';
import { contextOfWeb, type WebRequestContext } from '../tus/web-request.js';
import {
  failedHook,
  hookAnswer,
  mergeHookResponses,
  REJECTED,
  rejection,
  TERMINATION_REJECTED,
  TEXT_PLAIN,
  type TusError,
  validHeaders,
} from './answers.js';
import { type HookContext, hookContextOf } from './context.js';
import { type CreateChanges, checkedChanges, claimChosenId } from './create-changes.js';
import type { HookEvent } from './events.js';
import type { Hooks } from './hooks.js';
import type { HookHTTPResponse, HookResponse } from './http-hook.js';
import type { Outbox } from './outbox.js';
import { type HookUpload, hookNewUpload, hookRequest, hookUpload, NO_HTTP_REQUEST, type StorageOf } from './payload.js';
import { postReceive, type Receiving } from './post-receive.js';

export interface MountHooksOptions {
  /** Mount path without trailing slash. */
  path: string;
  location: string;
  store: DataStore;
  storage: StorageOf;
}

export type { CreateChanges } from './create-changes.js';

export type { Receiving } from './post-receive.js';

export class MountHooks {
  private readonly outbox: Outbox;

  constructor(
    readonly hooks: Hooks,
    private readonly o: MountHooksOptions,
  ) {
    this.outbox = hooks.outbox(o.location, o.store);
  }

  private payload(type: HookEvent, upload: HookUpload, context: HookContext | undefined, key = randomUUID()) {
    return hookRequest(type, upload, context?.http ?? NO_HTTP_REQUEST, context?.subject, key);
  }

  private upload(upload: Upload): HookUpload {
    return hookUpload(upload, this.o.path, this.o.storage);
  }

  /** Front door: the hook context of a request that can cause an event (HEAD, OPTIONS and GET cause none). */
  attach(c: WebRequestContext, request: FastifyRequest): void {
    if (!this.hooks.active || !['POST', 'PATCH', 'DELETE'].includes(request.method)) return;
    this.contextOf(c, request);
  }

  private contextOf(c: WebRequestContext, request: FastifyRequest): HookContext {
    c.hooks ??= this.hooks.context(request, c.grant);
    return c.hooks;
  }

  /**
   * pre-create for an upload @tus/server creates (its naming function): the id the hook chose,
   * or undefined for a generated one. Throws @tus/server's error shape to refuse the creation.
   */
  async preCreate(req: Request, metadata: Record<string, string | null> | undefined): Promise<string | undefined> {
    const length = req.headers.get('upload-length');
    const changes = await this.decideCreation(hookContextOf(req), grantOf(req)?.prefix, {
      size: length !== null && /^\d+$/.test(length) ? Number(length) : undefined,
      metadata: metadata ?? {},
      isPartial: req.headers.get('upload-concat') === 'partial',
    });
    if ('status_code' in changes) throw changes;
    return changes.id;
  }

  /** pre-create for the final upload of a concatenation (created by src/tus/concatenation.ts). */
  async preCreateFinal(
    req: Request,
    c: { size: number | undefined; metadata: Record<string, string | null> | undefined; partialIds: readonly string[] },
  ): Promise<CreateChanges | Answer> {
    const context = hookContextOf(req);
    const changes = await this.decideCreation(context, grantOf(req)?.prefix, {
      size: c.size,
      metadata: c.metadata ?? {},
      isPartial: false,
      partialUploads: c.partialIds,
    });
    if (!('status_code' in changes)) return changes;
    const headers = context?.answer?.always ? context.answer.response.Header : undefined;
    if (context) delete context.answer;
    return hookAnswer(changes, headers);
  }

  /** `prefix`: a token's id prefix, put in front of the id the hook chooses. */
  private async decideCreation(
    context: HookContext | undefined,
    prefix: string | undefined,
    upload: Parameters<typeof hookNewUpload>[0],
  ): Promise<CreateChanges | TusError> {
    if (!this.hooks.enabled('pre-create')) return {};
    let response: HookResponse;
    try {
      response = await this.hooks.invoke(this.payload('pre-create', hookNewUpload(upload), context), context);
    } catch (error) {
      return failedHook('pre-create', error, 'nothing was created');
    }
    if (response.RejectUpload) {
      if (context) context.answer = { response: { Header: { ...TEXT_PLAIN, ...response.HTTPResponse?.Header } }, always: true };
      return rejection(response.HTTPResponse, REJECTED);
    }
    if (context && response.HTTPResponse) context.answer = { response: response.HTTPResponse, always: false };
    const changes = checkedChanges(response.ChangeFileInfo, prefix, () =>
      this.hooks.log.warn({ location: this.o.location }, 'pre-create hook set reserved metadata keys; they are ignored'),
    );
    if ('status_code' in changes) return changes;
    if (changes.id !== undefined) {
      const where = { claims: this.hooks.claims, location: this.o.location, store: this.o.store };
      const refused = await claimChosenId(`${prefix ?? ''}${changes.id}`, context, where);
      if (refused) return refused;
    }
    if (context && changes.metadata) context.metadata = changes.metadata;
    return changes;
  }

  /** onUploadCreate: the metadata pre-create chose replaces the client's (reserved keys stay as they are). */
  applyCreateMetadata(req: Request, upload: Upload): void {
    const chosen = hookContextOf(req)?.metadata;
    if (!chosen) return;
    const visible = clientMetadata(upload.metadata) ?? {};
    const reserved = Object.entries(upload.metadata ?? {}).filter(([key]) => !(key in visible));
    upload.metadata = { ...chosen, ...Object.fromEntries(reserved) };
  }

  /**
   * The engine, before it writes a body: a PATCH with an empty body to an upload
   * complete already makes @tus/server finish it again. tusd answers it without events; here
   * it brings neither pre-finish nor a second post-finish (with a new idempotency key). A
   * request declaring Upload-Length (a deferred length, set just now) does complete it.
   */
  beforeWrite(req: Request, upload: Upload): void {
    if (upload.size !== undefined && upload.offset === upload.size && req.headers.get('upload-length') === null) refinish(req);
  }

  /** onUploadFinish: pre-finish's HTTPResponse for the answer; a failure still records post-finish (the upload is complete). */
  async preFinish(req: Request, upload: Upload): Promise<{ status_code?: number; headers?: Record<string, string>; body?: string }> {
    if (!this.hooks.enabled('pre-finish') || contextOfWeb(req)?.refinishing) return {};
    const context = hookContextOf(req);
    let response: HookResponse;
    try {
      response = await this.hooks.invoke(this.payload('pre-finish', this.upload(upload), context), context);
    } catch (error) {
      // @tus/server emits no POST_FINISH after a failed onUploadFinish; the application still hears of the upload.
      this.durable('post-finish', this.upload(upload), context);
      await Promise.allSettled(context?.pending ?? []);
      const offset = { 'Upload-Offset': String(upload.offset) };
      const created = req.method === 'POST' ? context?.created : undefined;
      if (!created) {
        if (context) context.answer = { response: { Header: { ...TEXT_PLAIN, ...offset } }, always: true };
        throw failedHook('pre-finish', error, 'every byte is stored and the upload is complete');
      }
      // The POST created the upload: without its Location, a client sending the POST again creates a second one.
      // (The final upload of a concatenation gets them from createFinal: its answer is not @tus/server's.)
      if (context) context.answer = { response: { Header: { ...TEXT_PLAIN, Location: created, ...offset } }, always: true };
      throw failedHook(
        'pre-finish',
        error,
        `every byte is stored and the upload is complete: it exists at ${created} (this answer's Location)`,
        'Do not send the POST again, which would create another upload: HEAD the Location to see it is complete.',
      );
    }
    const http = response.HTTPResponse;
    if (context) {
      // Merged into the answer with what pre-create asked for, pre-finish last (tusd's order), and
      // over @tus/server's answer once it is made: a creation keeps its Location whatever the status.
      if (http) context.answer = { response: context.answer ? mergeHookResponses(context.answer.response, http) : http, always: false };
      return {};
    }
    return {
      ...(http?.StatusCode ? { status_code: http.StatusCode } : {}),
      ...(http?.Header ? { headers: validHeaders(http.Header) } : {}),
      ...(http?.Body ? { body: http.Body } : {}),
    };
  }

  /** For a body @tus/server hands to the store: post-receive reports, and StopUpload. Undefined when post-receive is off. */
  receiving(req: Request, upload: Upload): Receiving | undefined {
    if (!this.hooks.enabled('post-receive')) return undefined;
    const context = hookContextOf(req);
    const snapshot = this.upload(upload);
    return postReceive(this.hooks, context, {
      startOffset: upload.offset,
      payload: (offset) => this.payload('post-receive', { ...snapshot, Offset: offset }, context),
      // tusd: the upload is terminated, post-terminate follows, the client gets the hook's answer.
      terminate: async () => {
        await this.o.store.remove(upload.id);
        this.durable('post-terminate', snapshot, context);
      },
      log: { location: this.o.location, uploadId: upload.id },
    });
  }

  /** Front door, DELETE: pre-terminate (RejectTermination keeps the upload); the upload is kept for post-terminate. */
  async beforeTerminate(
    c: WebRequestContext,
    request: FastifyRequest,
    id: string | undefined,
    read: () => Promise<Upload | undefined>,
  ): Promise<Answer | undefined> {
    if (!id || !(this.hooks.enabled('pre-terminate') || this.hooks.enabled('post-terminate'))) return undefined;
    const upload = await read();
    // Unknown (or not this subject's): @tus/server answers 404.
    if (!upload) return undefined;
    const context = this.contextOf(c, request);
    context.terminating = upload;
    if (!this.hooks.enabled('pre-terminate')) return undefined;
    let response: HookResponse;
    try {
      response = await this.hooks.invoke(this.payload('pre-terminate', this.upload(upload), context), context);
    } catch (error) {
      const failed = failedHook('pre-terminate', error, 'nothing was terminated');
      return plain(failed.status_code, failed.body);
    }
    if (response.RejectTermination)
      return hookAnswer(rejection(response.HTTPResponse, TERMINATION_REJECTED), response.HTTPResponse?.Header);
    if (response.HTTPResponse) context.answer = { response: response.HTTPResponse, always: false };
    return undefined;
  }

  /** Post-* hooks from the engine's events (its own and those concatenation emits on it). */
  listen(engine: EventEmitter): void {
    if (this.hooks.enabled('pre-finish')) {
      // A failing pre-finish still tells a creation where its upload is.
      engine.on(EVENTS.POST_CREATE, (req: Request, _upload: Upload, url: string) => {
        const context = hookContextOf(req);
        if (context) context.created = url;
      });
    }
    if (this.hooks.enabled('post-create')) {
      engine.on(EVENTS.POST_CREATE, (req: Request, upload: Upload) => {
        const context = hookContextOf(req);
        this.hooks.notify(this.payload('post-create', this.upload(upload), context), context);
      });
    }
    if (this.hooks.enabled('post-finish')) {
      engine.on(EVENTS.POST_FINISH, (req: Request, _res: Response, upload: Upload) => {
        if (!contextOfWeb(req)?.refinishing) this.durable('post-finish', this.upload(upload), hookContextOf(req));
      });
    }
    if (this.hooks.enabled('post-terminate')) {
      engine.on(EVENTS.POST_TERMINATE, (req: Request, _res: Response, id: string) => {
        const context = hookContextOf(req);
        const upload = context?.terminating?.id === id ? context.terminating : new Upload({ id, offset: 0 });
        this.durable('post-terminate', this.upload(upload), context);
      });
    }
  }

  /** Record a durable hook in the outbox and deliver it; the request's answer waits for the record. */
  private durable(event: HookEvent, upload: HookUpload, context: HookContext | undefined): void {
    if (!this.hooks.enabled(event)) return;
    const payload = this.payload(event, upload, context);
    const stored = this.hooks.delivery.enqueue(
      this.outbox,
      { key: payload.IdempotencyKey, event, uploadId: upload.ID, createdAt: Date.now(), body: JSON.stringify(payload) },
      context?.forwarded,
    );
    context?.pending.push(stored);
  }

  /** The request is over (its upload created, or not): the id pre-create chose is no longer held. */
  private async releaseClaim(context: HookContext): Promise<void> {
    const claimed = context.claimed;
    if (claimed === undefined) return;
    delete context.claimed;
    await claimed.claim.release();
  }

  /** The front door, when a creation's request ends whichever way: its claim released (if `settle` did not). */
  async end(c: WebRequestContext): Promise<void> {
    const context = c.hooks;
    if (context) await this.releaseClaim(context);
  }

  /**
   * onUploadCreate: an upload whose id pre-create chose is created only if no upload has that
   * id, where the store can tell (creation-intent.ts).
   */
  markChosenId(req: Request, upload: Upload): void {
    if (hookContextOf(req)?.claimed?.id === upload.id) intend(upload, { exclusive: true });
  }

  /**
   * Before an answer goes out (@tus/server's, or ours for the final upload of a concatenation):
   * the id pre-create chose released, the durable hooks stored; the hook's HTTPResponse that
   * answer of `status` takes (tusd's MergeWith: on a success, or whatever is answered when a
   * hook decided the answer), if any.
   */
  async settle(c: WebRequestContext, status: number): Promise<HookHTTPResponse | undefined> {
    const context = c.hooks;
    if (!context) return undefined;
    await this.releaseClaim(context);
    await Promise.allSettled(context.pending);
    const answer = context.answer;
    return answer && (answer.always || status < 300) ? answer.response : undefined;
  }
}

/** Marks a request to an upload complete before it began (see `beforeWrite`). */
function refinish(req: Request): void {
  const c = contextOfWeb(req);
  if (c) c.refinishing = true;
}
