/**
 * /healthz: the process is alive (no I/O). /readyz: every storage location is reachable and
 * writable (a probe write, with a short timeout, cached for a few seconds); 503 naming the
 * failing location and the reason otherwise, and while shutting down.
 */
import type { FastifyInstance } from 'fastify';

export interface Probe {
  name: string;
  /** Resolves when the location is reachable and writable; rejects with the reason. */
  probe(signal: AbortSignal): Promise<void>;
}

interface Result {
  ok: boolean;
  checks: Record<string, { ok: boolean; error?: string }>;
  at: number;
}

export function registerHealthRoutes(
  app: FastifyInstance,
  probes: readonly Probe[],
  isDraining: () => boolean,
  cacheMs = 5000,
  timeoutMs = 3000,
): void {
  let last: Result | undefined;
  let running: Promise<Result> | undefined;

  const check = async (): Promise<Result> => {
    const checks: Result['checks'] = {};
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
    return { ok: Object.values(checks).every((c) => c.ok), checks, at: Date.now() };
  };

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (isDraining()) return reply.code(503).send({ status: 'shutting down' });
    if (!last || Date.now() - last.at > cacheMs) {
      running ??= check().finally(() => {
        running = undefined;
      });
      last = await running;
    }
    return reply.code(last.ok ? 200 : 503).send({ status: last.ok ? 'ready' : 'not ready', locations: last.checks });
  });
}
