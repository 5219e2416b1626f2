/** The hook events, named and grouped exactly as tusd v2 does (pkg/hooks/hooks.go). */

export const HOOK_EVENTS = [
  'pre-create',
  'post-create',
  'post-receive',
  'pre-finish',
  'post-finish',
  'pre-terminate',
  'post-terminate',
] as const;
export type HookEvent = (typeof HOOK_EVENTS)[number];

/** tusd's default for -hooks-enabled-events (pre-finish and pre-terminate are opt-in). */
export const DEFAULT_EVENTS: readonly HookEvent[] = ['pre-create', 'post-create', 'post-receive', 'post-terminate', 'post-finish'];

/** The request waits for these; a receiver that does not answer fails the request (fail closed). */
export const BLOCKING_EVENTS: ReadonlySet<HookEvent> = new Set(['pre-create', 'pre-finish', 'pre-terminate']);

/** Kept in the outbox until the receiver answers 2xx (at least once, across restarts). */
export const DURABLE_EVENTS: ReadonlySet<HookEvent> = new Set(['post-finish', 'post-terminate']);

export const isHookEvent = (value: string): value is HookEvent => (HOOK_EVENTS as readonly string[]).includes(value);
