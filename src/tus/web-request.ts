/**
 * The one lookup from a web Request that @tus/server handles (its callbacks and events see
 * only that) to the front door's context of the request behind it (src/http/front-door/context.ts),
 * of which they need what this interface names. It is the only side table of request state.
 */
import type { Grant } from '../auth/grant.js';
import type { HookContext } from '../hooks/context.js';

export interface WebRequestContext {
  /** Who asks; undefined when authentication is off. */
  readonly grant?: Grant | undefined;
  /** The origin of new uploads' URLs (src/tus/public-origin.ts), for @tus/server's `Location`. */
  readonly origin?: string | undefined;
  /** What this request's hooks know and decided (src/hooks/mount.ts); made once, when hooks are on. */
  hooks?: HookContext;
  /** A request to an upload complete before it began: @tus/server finishes it again, hooks do not. */
  refinishing?: boolean;
}

const byWebRequest = new WeakMap<Request, WebRequestContext>();

export function linkWeb<C extends WebRequestContext>(web: Request, c: C): Request {
  byWebRequest.set(web, c);
  return web;
}

export function contextOfWeb(web: Request): WebRequestContext | undefined {
  return byWebRequest.get(web);
}
