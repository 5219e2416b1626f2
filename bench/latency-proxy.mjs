// A TCP proxy on 127.0.0.1 that delays every chunk, in each direction, by half the round-trip
// time, in order (FIFO), so each S3 request/response exchange costs the RTT, as S3 across a
// network does; bandwidth is not limited (only buffering bounds it, see HIGH_WATER).
// Used by bench/run.mjs (--groups=latency); standalone: node bench/latency-proxy.mjs <target host:port> <rtt ms>
import net from 'node:net';

/** Bytes queued towards one side before the other side's reading pauses. */
const HIGH_WATER = 64 * 1024 * 1024;

/**
 * Starts the proxy in front of `target` ("host:port" or a URL); resolves to
 * { port, endpoint (http://127.0.0.1:port), stats(), close() }.
 */
export async function startLatencyProxy(target, rttMs) {
  const t = target.includes('://') ? new URL(target) : new URL(`tcp://${target}`);
  const half = rttMs / 2;
  const sockets = new Set();
  let connections = 0;
  /** Forwards src to dst, each chunk `half` ms later than it arrived, in order. */
  const pipeDelayed = (src, dst) => {
    let queued = 0;
    src.on('data', (chunk) => {
      queued += chunk.length;
      if (queued > HIGH_WATER) src.pause();
      // Timers of one duration fire in the order they were set: FIFO per direction.
      setTimeout(() => {
        queued -= chunk.length;
        if (!dst.destroyed) dst.write(chunk);
        if (queued <= HIGH_WATER && src.isPaused()) src.resume();
      }, half);
    });
    src.on('end', () => setTimeout(() => dst.end(), half));
  };
  const server = net.createServer((client) => {
    connections++;
    const upstream = net.connect(Number(t.port), t.hostname);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    pipeDelayed(client, upstream);
    pipeDelayed(upstream, client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    rttMs,
    stats: () => ({ connections }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [target, rtt] = process.argv.slice(2);
  if (!target || !rtt) {
    console.error('usage: node bench/latency-proxy.mjs <target host:port> <rtt ms>');
    process.exit(2);
  }
  const proxy = await startLatencyProxy(target, Number(rtt));
  console.log(`${proxy.endpoint} -> ${target}, +${rtt} ms per round trip`);
}
