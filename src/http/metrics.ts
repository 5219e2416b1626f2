/** Prometheus metrics (prom-client) at /metrics, optionally behind bearer tokens. */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'tus_http_requests_total',
    help: 'HTTP requests by method, status and location',
    labelNames: ['method', 'status', 'location'],
    registers: [this.registry],
  });
  readonly bytesReceived = new Counter({
    name: 'tus_received_bytes_total',
    help: 'Upload bytes accepted',
    labelNames: ['location'],
    registers: [this.registry],
  });
  readonly uploads = new Counter({
    name: 'tus_uploads_total',
    help: 'Uploads by event: created, finished, terminated, expired',
    labelNames: ['event', 'location'],
    registers: [this.registry],
  });
  readonly uploadDuration = new Histogram({
    name: 'tus_upload_duration_seconds',
    help: 'Time from creation to the last byte of finished uploads',
    labelNames: ['location'],
    buckets: [0.1, 1, 5, 30, 120, 600, 3600, 21600, 86400],
    registers: [this.registry],
  });
  readonly s3Latency = new Histogram({
    name: 'tus_s3_request_duration_seconds',
    help: 'S3 calls by operation and result',
    labelNames: ['location', 'operation', 'result'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly lockWait = new Histogram({
    name: 'tus_lock_wait_seconds',
    help: 'Time requests waited for an upload lock',
    labelNames: ['location'],
    buckets: [0.001, 0.01, 0.1, 0.5, 1, 3, 10],
    registers: [this.registry],
  });

  readonly hookRequests = new Histogram({
    name: 'tus_hook_request_duration_seconds',
    help: 'Hook requests to HOOKS_HTTP_URL by event and result (ok: a 2xx answer)',
    labelNames: ['event', 'result'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60],
    registers: [this.registry],
  });
  readonly hookDeliveries = new Counter({
    name: 'tus_hook_deliveries_total',
    help: 'Attempts to deliver post-finish and post-terminate hooks: delivered, failed (retried later), dropped (HOOKS_RETRY_MAX_AGE passed)',
    labelNames: ['event', 'result'],
    registers: [this.registry],
  });

  readonly connectionsRefused = new Counter({
    name: 'tus_connections_refused_total',
    help: 'Client connections reset as they arrived: per_address (SERVER_MAX_CONNECTIONS_PER_IP reached), total (SERVER_MAX_CONNECTIONS reached)',
    labelNames: ['reason'],
    registers: [this.registry],
  });

  constructor(gauges: {
    partsInFlight: () => Record<string, number>;
    tempBytes: () => number;
    /** Undelivered post-finish and post-terminate hooks, by location. */
    hooksPending?: () => Record<string, number>;
    /** Open client connections. */
    connectionsOpen?: () => number;
  }) {
    collectDefaultMetrics({ register: this.registry });
    // Both reasons present from the start, at 0, so a rate() over them needs no first refusal.
    for (const reason of ['per_address', 'total']) this.connectionsRefused.inc({ reason }, 0);
    new Gauge({
      name: 'tus_connections_open',
      help: 'Open client connections (SERVER_MAX_CONNECTIONS caps them)',
      registers: [this.registry],
      collect() {
        this.set(gauges.connectionsOpen?.() ?? 0);
      },
    });
    new Gauge({
      name: 'tus_s3_parts_in_flight',
      help: 'S3 part uploads in flight',
      labelNames: ['location'],
      registers: [this.registry],
      collect() {
        for (const [location, n] of Object.entries(gauges.partsInFlight())) this.set({ location }, n);
      },
    });
    new Gauge({
      name: 'tus_temp_bytes',
      help: 'Bytes in temporary files (checksum spooling)',
      registers: [this.registry],
      collect() {
        this.set(gauges.tempBytes());
      },
    });
    new Gauge({
      name: 'tus_hook_deliveries_pending',
      help: 'post-finish and post-terminate hooks stored and not yet delivered (retrying)',
      labelNames: ['location'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [location, n] of Object.entries(gauges.hooksPending?.() ?? {})) this.set({ location }, n);
      },
    });
  }
}

export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics, tokens: readonly string[]): void {
  const allowed = tokens.map((t) => Buffer.from(t));
  app.get('/metrics', async (request, reply) => {
    if (allowed.length > 0) {
      const given = Buffer.from(/^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '');
      if (!allowed.some((t) => t.length === given.length && timingSafeEqual(t, given))) {
        return reply.code(401).header('WWW-Authenticate', 'Bearer').send('A valid bearer token is required (METRICS_TOKENS)\n');
      }
    }
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
