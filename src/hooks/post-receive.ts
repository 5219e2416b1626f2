/**
 * post-receive for one request body: progress reported while the store reads it (every
 * HOOKS_PROGRESS_INTERVAL), and a StopUpload answer that stops the body, removes the upload
 * and answers the client with the hook's HTTPResponse.
 */
import { rejection, STOPPED, TEXT_PLAIN } from './answers.js';
import type { HookContext } from './context.js';
import type { Hooks } from './hooks.js';
import { HookFailure, type HookResponse } from './http-hook.js';
import type { HookRequest } from './payload.js';
import { Progress } from './progress.js';

/** A request body being read, for post-receive. */
export interface Receiving {
  /** Aborted when a post-receive answer says StopUpload. */
  stop: AbortSignal;
  onBytes(bytes: number): void;
  /** The body ended: the last report. */
  end(): void;
  /** After the store returned: when StopUpload stopped the body, remove the upload and throw the answer. */
  settle(): Promise<void>;
}

export interface PostReceiveOptions {
  /** The upload's offset when the body began. */
  startOffset: number;
  /** The hook's payload at an offset. */
  payload(offset: number): HookRequest;
  /** Removes the upload and records post-terminate. */
  terminate(): Promise<void>;
  log: { location: string; uploadId: string };
}

export function postReceive(hooks: Hooks, context: HookContext | undefined, o: PostReceiveOptions): Receiving {
  const progress = new Progress({
    startOffset: o.startOffset,
    interval: hooks.config.progressInterval,
    report: async (offset) => {
      const response: HookResponse | undefined = await hooks
        .invoke(o.payload(offset), context)
        // An invalid answer is logged and changes nothing, unless it says StopUpload in some spelling (then without its HTTPResponse).
        .catch((error) => (error instanceof HookFailure && error.stopUpload ? { StopUpload: true } : undefined));
      return { stop: response?.StopUpload === true, response: response?.HTTPResponse };
    },
  });
  return {
    stop: progress.stop,
    onBytes: progress.onBytes,
    end: () => progress.end(),
    settle: async () => {
      if (!progress.stopped) return;
      await o.terminate();
      await Promise.allSettled(context?.pending ?? []);
      const response = progress.stoppedWith;
      if (context) context.answer = { response: { Header: { ...TEXT_PLAIN, ...response?.Header } }, always: true };
      hooks.log.warn(o.log, 'post-receive hook stopped the upload; it was removed');
      throw rejection(response, STOPPED);
    },
  };
}
