/**
 * A request attempt that neither sends nor receives a byte for `idleMs` is abandoned and sent
 * again, up to `attempts` times, then fails as ETIMEDOUT (STORAGE_<LOC>_SOCKET_TIMEOUT, as the S3
 * client's socket timeout; answered 503, resumable). The SDK's own `tryTimeoutInMs` is only the
 * `timeout` parameter Azure applies on its side: a connection that stalls would otherwise hold a
 * PATCH, and its upload's lock, for ever. The SDK places policies of ours before its retry
 * policy, so this one repeats a stalled call itself; an abort is never retried by the SDK.
 */
import type { HttpOperationResponse, RequestPolicy, RequestPolicyFactory, WebResource } from '@azure/storage-blob';
import { waitingForClient } from './client-paced.js';

/** The error a call fails with once every attempt stalled. */
export class IdleTimeout extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(idleMs: number, attempts: number) {
    super(`ETIMEDOUT: Azure sent and accepted nothing for ${idleMs} ms, ${attempts} times (SOCKET_TIMEOUT)`);
    this.name = 'IdleTimeout';
  }
}

/** Pause before a stalled call is sent again. */
const AGAIN_AFTER_MS = 500;

export function idleTimeout(idleMs: number, attempts: number): RequestPolicyFactory {
  return {
    create: (next: RequestPolicy): RequestPolicy => ({
      async sendRequest(request: WebResource): Promise<HttpOperationResponse> {
        for (let attempt = 1; ; attempt++) {
          const stalled = await watched(next, request, idleMs);
          if (!('stalled' in stalled)) return stalled;
          if (attempt >= attempts || request.abortSignal?.aborted) throw new IdleTimeout(idleMs, attempt);
          await new Promise((resolve) => setTimeout(resolve, AGAIN_AFTER_MS));
        }
      },
    }),
  };
}

/**
 * One attempt, abandoned (`{ stalled }`) when no byte moves for `idleMs`. A response whose body
 * is streamed to its reader (a download, a tail or state read back) stays watched until it ends:
 * a body that stalls is destroyed rather than waited for.
 */
async function watched(next: RequestPolicy, request: WebResource, idleMs: number): Promise<HttpOperationResponse | { stalled: true }> {
  const idle = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  /** The response body is paused by its reader: the idle time is the reader's, not Azure's. */
  let paused = false;
  const stop = () => {
    done = true;
    clearTimeout(timer);
  };
  const rearm = () => {
    if (done || paused) return;
    clearTimeout(timer);
    // Unref'd: a watch never keeps the process alive.
    timer = setTimeout(() => (waitingForClient(request.body) ? rearm() : idle.abort()), idleMs).unref();
  };
  // The request itself, its own signal and callbacks put back afterwards: a clone would lose
  // what the SDK keeps beside a v1 request (allowInsecureConnection, for one).
  const { abortSignal: caller, onUploadProgress, onDownloadProgress } = request;
  request.abortSignal = caller ? AbortSignal.any([caller as AbortSignal, idle.signal]) : idle.signal;
  request.onUploadProgress = (progress) => {
    rearm();
    onUploadProgress?.(progress);
  };
  request.onDownloadProgress = (progress) => {
    rearm();
    onDownloadProgress?.(progress);
  };
  rearm();
  try {
    const response = await next.sendRequest(request);
    const body = response.readableStreamBody as NodeJS.ReadableStream & { readableEnded?: boolean; destroyed?: boolean };
    if (body && !body.readableEnded && !body.destroyed) {
      body.once('end', stop);
      body.once('close', stop);
      body.once('error', stop);
      // Paused by its reader (back-pressure: the client of a download reads slowly): no stall of Azure's.
      body.on('pause', () => {
        paused = true;
        clearTimeout(timer);
      });
      body.on('resume', () => {
        paused = false;
        rearm();
      });
    } else stop();
    return response;
  } catch (error) {
    stop();
    if (idle.signal.aborted && !caller?.aborted) return { stalled: true };
    throw error;
  } finally {
    Object.assign(request, { abortSignal: caller, onUploadProgress, onDownloadProgress });
  }
}
