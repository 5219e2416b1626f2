/**
 * The front door of one location's tus endpoint. Every request takes the same path: one
 * context is made for it (src/http/front-door/context.ts), then the gates below run in order,
 * each a function of the context that answers or passes (src/http/front-door/*.ts):
 *   1. requestLine: the Host and a trusted proxy's origin (400, src/tus/public-origin.ts), the
 *      method (X-HTTP-Method-Override), the IETF draft translated into tus;
 *   2. authorize: the bearer token and its limits, the upload's owner (401/403/404);
 *   3. shutdown (503); 4. downloads (GET, answered here);
 *   5. protocol: the protocol guard (412/415/400), the creation URL and limits;
 *   6. concatenation: a final upload created (POST), PATCH to a final upload (403), HEAD of a
 *      final upload waiting for its partials;
 *   7. ietfAppend, preTerminate (the pre-terminate hook), verifyChecksum (400/460, body spooled);
 * then the cached state is refreshed where it may be stale, @tus/server (the protocol engine)
 * is handed the request (hand-over.ts), and its answer turned into ours, adjusted in one place
 * and sent (answer.ts: one answer type, one `send`, for the gates' answers too). The upload is read at most once for every gate (`DoorContext.read`).
 * The plugin's scope has no body parsers and the reply is hijacked, so Fastify neither
 * buffers the body nor answers a second time.
 */
import type { Server } from '@tus/server';
import { type DataStore, EVENTS, type Locker, type Upload } from '@tus/utils';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticate } from '../auth/authenticate.js';
import type { MountHooks } from '../hooks/mount.js';
import type { ConcatLimits } from '../tus/concatenation.js';
import type { TempSpace } from '../tus/temp-space.js';
import { contextOfWeb } from '../tus/web-request.js';
import type { RequestTracker } from './drain.js';
import { forward, refused } from './front-door/answer.js';
import { authorize } from './front-door/authorize.js';
import { verifyChecksum } from './front-door/checksum.js';
import { concatenation } from './front-door/concatenation.js';
import { type DoorContext, type Gate, openContext } from './front-door/context.js';
import { refreshState } from './front-door/hand-over.js';
import { inTurn, isClosing } from './front-door/pipelining.js';
import { downloads, ietfAppend, preTerminate, protocol, shutdown } from './front-door/protocol.js';
import { METHODS, requestLine } from './front-door/request-line.js';
import { sendUploadResumptionSupported } from './ietf-answer.js';
import { settleBeforeLog } from './request-log.js';
import type { TrustedPeer } from './trusted-proxy.js';

export interface TusRoutesOptions {
  /** Mount path without trailing slash. */
  path: string;
  engine: Server;
  datastore: DataStore;
  locker: Locker;
  location: string;
  /** Serve GET downloads of finished uploads. */
  downloads: boolean;
  /** Where checksum-verified bodies are spooled. */
  tempDir: string;
  /** Extensions answered by our layer on top of the store's. */
  extraExtensions: readonly string[];
  /** Public base URL, for the Location of new uploads; unset: the request's origin. */
  publicUrl?: string | undefined;
  /** Peers whose X-Forwarded-Host/-Proto and Forwarded make the origin (IP_TRUST_PROXY). */
  trustedPeer: TrustedPeer;
  /** 0: no limit. */
  maxSize: number;
  /** Requests in flight, for a graceful shutdown. */
  tracker: RequestTracker;
  /** Upload bytes stored by a request (metrics). */
  onBytes?: (bytes: number) => void;
  /** Bearer-token authentication; undefined: off. */
  authenticate?: Authenticate | undefined;
  /** Limits besides maxSize (src/tus/creation-limits.ts, src/tus/temp-space.ts; bodies: src/http/body-idle.ts, app-wide). */
  limits: RouteLimits;
  /** HTTP hooks of this mount (src/hooks/mount.ts); undefined: off. */
  hooks?: MountHooks | undefined;
}

export interface RouteLimits {
  /** FILES_MIME_TYPE_ALLOW_LIST, or the location's. */
  mimeTypes: readonly string[];
  maxMetadataSize: number;
  maxMetadataKeys: number;
  /** Space of every checksum spool together (TUS_TEMP_MAX_SIZE). */
  tempSpace: TempSpace;
  /** TUS_CONCAT_MAX_PARTS and TUS_CONCAT_MAX_USES. */
  concat: ConcatLimits;
}

/** The gates, in order: each answers (and the request ends) or passes. */
const GATES: readonly Gate[] = [
  requestLine,
  authorize,
  shutdown,
  downloads,
  protocol,
  concatenation,
  ietfAppend,
  preTerminate,
  verifyChecksum,
];

async function handle(o: TusRoutesOptions, request: FastifyRequest, reply: FastifyReply) {
  const c = openContext(o, request, reply);
  for (const gate of GATES) {
    const result = await gate(c);
    if (result === 'answered') return reply;
    if (result) return refused(c, result);
  }
  refreshState(c);
  return forward(c);
}

export const tusRoutes: FastifyPluginAsync<TusRoutesOptions> = async (app: FastifyInstance, o) => {
  app.removeAllContentTypeParsers();
  // Leave every body untouched for the store to stream.
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  // 104 Upload Resumption Supported: told as soon as @tus/server has created the upload.
  o.engine.on(EVENTS.POST_CREATE, (req: Request, _upload: Upload, url: string) => {
    const c = contextOfWeb(req) as DoorContext | undefined;
    if (c?.ietf && c.request.method === 'POST') sendUploadResumptionSupported(c.reply.raw, c.ietf.version, url);
  });
  const handler = (request: FastifyRequest, reply: FastifyReply) => {
    const work = inTurn(request.raw.socket, async () => {
      // A request pipelined behind an answer that closed the connection is not run: it
      // could never be answered (@tus/server closes the connection after an error).
      if (isClosing(request.raw.socket)) {
        reply.hijack();
        request.raw.destroy();
        return;
      }
      return handle(o, request, reply);
    });
    // A request whose client goes away is logged once its bytes are stored.
    settleBeforeLog(request, work);
    return work;
  };
  for (const url of [o.path || '/', `${o.path}/*`]) app.route({ method: METHODS, url, exposeHeadRoute: false, handler });
};
