/**
 * Request bodies whose bytes come from a client as they arrive (a block streamed while its PATCH
 * is received): while such a body waits for its client, the connection to Azure is idle through
 * no fault of Azure's, and the idle watch (idle-timeout.ts) must not abandon the attempt for it.
 * TUS_BODY_IDLE_TIMEOUT judges the client instead.
 */

/** The body factory's own property: asked by the idle watch, which sees only the request. */
const WAITING = Symbol('waitingForClient');

type Paced = { [WAITING]?: () => boolean };

/** Mark `body` (a body factory handed to the SDK) as paced by a client; `isWaiting` says when it waits for one. */
export function pacedByClient(body: object, isWaiting: () => boolean): void {
  (body as Paced)[WAITING] = isWaiting;
}

/** Whether a request's body is waiting for its client's next bytes. */
export function waitingForClient(body: unknown): boolean {
  if ((typeof body !== 'object' && typeof body !== 'function') || body === null) return false;
  return (body as Paced)[WAITING]?.() === true;
}
