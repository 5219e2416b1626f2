// node bench/patch-latency.mjs <tus endpoint> [MiB] [PATCH MiB]: uploads MiB (default 512) of
// random bytes in PATCHes of PATCH MiB (default 16) to a running server and prints, per
// PATCH, how long sending the body took and how long the answer took after its last byte
// (the time the server needs to make the bytes durable). Example, against a server on :1080:
//   node bench/patch-latency.mjs http://127.0.0.1:1080/files/ 512 16
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';

const [endpoint, totalArg, patchArg] = process.argv.slice(2);
if (!endpoint) {
  console.error('usage: node bench/patch-latency.mjs <tus endpoint> [MiB] [PATCH MiB]');
  process.exit(2);
}
const MiB = 1024 * 1024;
const size = Number(totalArg ?? 512) * MiB;
const patchSize = Number(patchArg ?? 16) * MiB;
const data = randomBytes(size);
const agent = new http.Agent({ keepAlive: true });

function send(url, method, headers, body) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let sent = started;
    const req = http.request(url, { method, agent, headers: { 'Tus-Resumable': '1.0.0', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ res, sendMs: sent - started, waitMs: performance.now() - sent }));
    });
    req.on('error', reject);
    req.on('finish', () => {
      sent = performance.now();
    });
    (async () => {
      for (let i = 0; body && i < body.length; i += 64 * 1024) if (!req.write(body.subarray(i, i + 64 * 1024))) await once(req, 'drain');
      req.end();
    })().catch(reject);
  });
}

const created = await send(endpoint, 'POST', { 'Upload-Length': String(size) });
if (created.res.statusCode !== 201) throw new Error(`POST: ${created.res.statusCode}`);
const url = new URL(created.res.headers.location, endpoint).toString();
const sends = [];
const waits = [];
const t0 = performance.now();
for (let pos = 0; pos < size; pos += patchSize) {
  const body = data.subarray(pos, pos + patchSize);
  const { res, sendMs, waitMs } = await send(
    url,
    'PATCH',
    {
      'Content-Type': 'application/offset+octet-stream',
      'Upload-Offset': String(pos),
      'Content-Length': String(body.length),
    },
    body,
  );
  if (res.statusCode !== 204) throw new Error(`PATCH at ${pos}: ${res.statusCode}`);
  sends.push(sendMs);
  waits.push(waitMs);
}
const seconds = (performance.now() - t0) / 1000;
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(
  `${size / MiB} MiB in ${sends.length} PATCHes of ${patchSize / MiB} MiB: ${seconds.toFixed(2)} s, ${(size / MiB / seconds).toFixed(0)} MiB/s; ` +
    `per PATCH: body sent in ${median(sends).toFixed(0)} ms, answer ${median(waits).toFixed(0)} ms after its last byte (medians)`,
);
agent.destroy();
