/** The server, once main.ts has checked Node and sized the heap: load config, build the app, listen, stop cleanly on signals. */
import { getHeapStatistics } from 'node:v8';
import { buildApp, createStores } from './app.js';
import { type Config, ConfigError, loadConfig } from './config/index.js';
import { notReadyWarnings } from './http/health.js';
import { createLogger } from './logger.js';
import { mib } from './runtime/memory-budget.js';
import type { MemoryLimit } from './runtime/memory-limit.js';
import { cleanupExpired } from './tus/cleanup.js';
import { sweepSpools } from './tus/spool-sweep.js';

export async function serve(limit: MemoryLimit | undefined): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(
      process.env,
      limit && { limit, heapLimit: getHeapStatistics().heap_size_limit, heapSized: process.env.TUS_HEAP_SIZED === String(limit.bytes) },
    );
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`tus-s3-server: refusing to start.\n${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  if (process.argv[2] === 'cleanup') {
    // One-off cleanup of expired uploads, for cron jobs outside the server.
    const logger = createLogger(config);
    const removed = await cleanupExpired(await createStores(config, logger), logger);
    process.stdout.write(`${JSON.stringify({ removed })}\n`);
    process.exit(0);
  }
  const app = await buildApp(config);
  // Checksum spools a killed predecessor left in TUS_TEMP_DIR.
  await sweepSpools(config.tempDir, app.log);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      app.log.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    stopping = true;
    app.log.info(
      { signal, running: app.tusRequests.size, timeoutMs: config.shutdownTimeout },
      'stopping: saving what running uploads received',
    );
    // Past the timeout, exit anyway.
    setTimeout(() => {
      app.log.error({ timeoutMs: config.shutdownTimeout }, 'shutdown timeout reached: exiting');
      process.exit(1);
    }, config.shutdownTimeout).unref();
    // New requests get 503; running bodies are ended so the stores keep every byte received;
    // then the server closes (and the S3 sockets with it).
    app.tusRequests
      .drain(config.shutdownTimeout)
      .then(() => app.close())
      .then(
        () => {
          app.log.info('stopped');
          process.exit(0);
        },
        (error: unknown) => {
          app.log.error({ err: error }, 'error while stopping');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await app.listen({ host: config.host, port: config.port });
  // Every location checked once, as /readyz does: what is not ready is said now, not at the
  // first upload. The server serves on either way (a missing bucket may be created later).
  const readiness = await app.readiness.check();
  const started = {
    locations: config.locations.map((l) => `${l.name}:${l.driver}`),
    tusPath: config.tusPath,
    node: process.version,
    memory: memorySummary(config),
  };
  if (readiness.ok) {
    app.log.info(started, 'tus-s3-server ready');
    return;
  }
  for (const { details, message } of notReadyWarnings(readiness, config.locations)) app.log.warn(details, message);
  const failing = Object.keys(readiness.checks).filter((name) => !readiness.checks[name]?.ok);
  app.log.warn(
    { ...started, notReady: failing },
    `tus-s3-server listening, but not ready: ${failing.join(', ')} (see above); /readyz answers 503 until then`,
  );
}

/** The memory limit found and the budgets chosen, for the ready line. */
function memorySummary(config: Config): Record<string, unknown> {
  const { memory } = config;
  if (!memory) return { limit: 'none', heapLimit: mib(getHeapStatistics().heap_size_limit) };
  return {
    limit: mib(memory.limit),
    source: memory.source,
    heapLimit: `${mib(memory.heapLimit)} (${memory.heapSized ? 'sized for the limit' : 'as Node was started'})`,
    partMemory: Object.fromEntries(
      Object.entries(memory.partMemory).map(([name, bytes]) => [
        name,
        `${mib(bytes)}${memory.partMemorySet.includes(name) ? ' (set)' : ''}`,
      ]),
    ),
  };
}
