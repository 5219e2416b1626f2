/**
 * The one lookup from a web Request that @tus/server handles (its callbacks and events see
 * only that) to the front door's context of the request behind it (src/http/front-door/context.ts),
 * of which they need what this interface names.
 */
import type { Grant } from '../auth/grant.js';

export interface WebRequestContext {
  /** Who asks; undefined when authentication is off. */
  readonly grant?: Grant | undefined;
  /** The origin of new uploads' URLs (src/tus/public-origin.ts), for @tus/server's `Location`. */
  readonly origin?: string | undefined;
}

const byWebRequest = new WeakMap<Request, WebRequestContext>();

export function linkWeb<C extends WebRequestContext>(web: Request, c: C): Request {
  byWebRequest.set(web, c);
  return web;
}

export function contextOfWeb(web: Request): WebRequestContext | undefined {
  return byWebRequest.get(web);
}
