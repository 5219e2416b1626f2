/** Entry point: load config, build the app, listen, stop cleanly on signals. */
import { buildApp, createStores } from './app.js';
import { ConfigError, loadConfig } from './config/index.js';
import { notReadyWarnings } from './http/health.js';
import { createLogger } from './logger.js';
import { cleanupExpired } from './tus/cleanup.js';
import { sweepSpools } from './tus/spool-sweep.js';

/** package.json's engines: older Nodes lack what the server and its dependencies use (npm start fetches Node 24 there). */
const OLDEST_NODE = [22, 12] as const;

async function main(): Promise<void> {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major < OLDEST_NODE[0] || (major === OLDEST_NODE[0] && minor < OLDEST_NODE[1])) {
    process.stderr.write(
      `tus-s3-server: refusing to start on Node ${process.version}: Node ${OLDEST_NODE.join('.')} or newer is required ` +
        '(Node 24 LTS recommended). `npm start` fetches Node 24 by itself on older machines.\n',
    );
    process.exit(2);
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
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
    const removed = await cleanupExpired(createStores(config, logger), logger);
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

main().catch((error: unknown) => {
  process.stderr.write(`tus-s3-server: failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
