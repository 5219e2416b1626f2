/**
 * /healthz: the process is alive (no I/O). /readyz: every storage location is reachable and
 * writable (a probe write, with a short timeout, cached for a few seconds); 503 naming the
 * failing location and the reason otherwise, and while shutting down. The same check runs once
 * at start (`app.readiness.check()`, from main), to say in the log what is not ready.
 */
import type { FastifyInstance } from 'fastify';
import type { Location } from '../config/index.js';
import { monotonic } from '../runtime/monotonic.js';
import { driverOf } from '../stores/drivers.js';

export interface Probe {
  name: string;
  /** Resolves when the location is reachable and writable; rejects with the reason. */
  probe(signal: AbortSignal): Promise<void>;
}

export interface ReadinessResult {
  ok: boolean;
  checks: Record<string, { ok: boolean; error?: string }>;
  at: number;
}

export interface Readiness {
  /** Probe everything now, as /readyz does (whose cached answer this leaves alone). */
  check(): Promise<ReadinessResult>;
}

export function registerHealthRoutes(
  app: FastifyInstance,
  probes: readonly Probe[],
  isDraining: () => boolean,
  cacheMs = 5000,
  timeoutMs = 3000,
): Readiness {
  let last: ReadinessResult | undefined;
  let running: Promise<ReadinessResult> | undefined;

  const check = async (): Promise<ReadinessResult> => {
    const checks: ReadinessResult['checks'] = {};
    await Promise.all(
      probes.map(async (p) => {
        try {
          await p.probe(AbortSignal.timeout(timeoutMs));
          checks[p.name] = { ok: true };
        } catch (error) {
          const e = error as { body?: string; message?: string; name?: string };
          const reason =
            e.name === 'TimeoutError' || e.name === 'AbortError'
              ? `no answer within ${timeoutMs} ms`
              : (e.body ?? e.message ?? String(error)).trim();
          checks[p.name] = { ok: false, error: reason };
        }
      }),
    );
    return { ok: Object.values(checks).every((c) => c.ok), checks, at: monotonic() };
  };

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (isDraining()) return reply.code(503).send({ status: 'shutting down' });
    if (!last || monotonic() - last.at > cacheMs) {
      running ??= check().finally(() => {
        running = undefined;
      });
      last = await running;
    }
    return reply.code(last.ok ? 200 : 503).send({ status: last.ok ? 'ready' : 'not ready', locations: last.checks });
  });
  return { check };
}

/**
 * The warnings of the check at start, one per failed probe: which location (and bucket or
 * directory), why, and that the server serves on, so that a bucket created later is used.
 */
export function notReadyWarnings(
  result: ReadinessResult,
  locations: readonly Location[],
): Array<{ details: Record<string, unknown>; message: string }> {
  const warnings: Array<{ details: Record<string, unknown>; message: string }> = [];
  for (const [name, check] of Object.entries(result.checks)) {
    if (check.ok) continue;
    const location = locations.find((l) => l.name === name);
    // The store's reasons begin with `Storage location "<name>": `, said once here.
    const reason = (check.error ?? 'unknown reason').replace(/^Storage location "[^"]*": /, '');
    const sentence = /[.!?]$/.test(reason) ? reason : `${reason}.`;
    const serving = 'The server keeps serving meanwhile: /readyz answers 503 and requests for this location fail until it is fixed;';
    if (!location) {
      warnings.push({ details: { check: name, error: reason }, message: `${name} is not ready at start: ${sentence}` });
    } else {
      warnings.push(driverOf(location).notReady(location, { name, reason, sentence, serving }));
    }
  }
  return warnings;
}
