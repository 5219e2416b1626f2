/**
 * Entry point. Checks the Node version and, in a container with a memory limit, sizes V8's
 * heap for it: the heap can only be set when Node starts, so the process replaces itself once
 * with Node's heap flags (unless whoever started it set them). Then the server (serve.ts).
 * Nothing heavy is imported before that.
 */
import { heapFlags, heapFor, heapSetExplicitly } from './runtime/memory-budget.js';
import { containerMemoryLimit } from './runtime/memory-limit.js';

/** package.json's engines: older Nodes lack what the server and its dependencies use (npm start fetches Node 24 there). */
const OLDEST_NODE = [22, 12] as const;

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < OLDEST_NODE[0] || (major === OLDEST_NODE[0] && minor < OLDEST_NODE[1])) {
  process.stderr.write(
    `tus-s3-server: refusing to start on Node ${process.version}: Node ${OLDEST_NODE.join('.')} or newer is required ` +
      '(Node 24 LTS recommended). `npm start` fetches Node 24 by itself on older machines.\n',
  );
  process.exit(2);
}

const limit = containerMemoryLimit();
if (limit && !heapSetExplicitly(process.execArgv, process.env.NODE_OPTIONS) && typeof process.execve === 'function') {
  // Same PID, so signals and the container's init still reach the server.
  const args = [...process.execArgv, ...heapFlags(heapFor(limit.bytes)), ...process.argv.slice(1)];
  process.execve(process.execPath, [process.execPath, ...args], { ...process.env, TUS_HEAP_SIZED: String(limit.bytes) });
}

const { serve } = await import('./serve.js');
serve(limit).catch((error: unknown) => {
  process.stderr.write(`tus-s3-server: failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
