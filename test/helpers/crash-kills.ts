/**
 * Server crashes (issue 14, item 3), on any location: the built server as its own process,
 * killed with SIGKILL after a seeded random number of bytes of a PATCH, and right after the last
 * byte of the completing PATCH (plus a seeded delay), started again on the same storage, the
 * upload resumed with HEAD + PATCH: the offset never claims more than was sent nor less than was
 * acknowledged. The caller checks what the storage holds afterwards.
 */
import type { Test } from 'tap';
import { createUpload, head, patch } from './app.js';
import { type ServerProcess, startProcess } from './process.js';
import { patchRequest } from './raw-request.js';

export interface KillPlan {
  /** PATCH kills before the completion kill. */
  kills: number;
  /** The completion kill lands up to this long after the last byte was sent. */
  completionDelayMs: number;
  /** Printed with the log, to replay a run. */
  seed: number;
}

/**
 * PATCH the rest of the upload from `offset`, and SIGKILL the server once `sent` bytes were
 * handed to the socket (all of them: the kill lands right after the last byte, during completion).
 */
export async function patchThenKill(
  proc: ServerProcess,
  url: string,
  offset: number,
  rest: Uint8Array,
  sent: number,
  delayMs: number,
): Promise<void> {
  const req = patchRequest(url, offset, { 'Content-Length': String(rest.length) });
  // The request can end early (an answer, a closed connection): then the kill comes at once.
  const ended = new Promise<void>((resolve) => {
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.on('response', (res) => {
      res.resume();
      resolve();
    });
  });
  const step = 256 * 1024;
  let written = 0;
  while (written < sent) {
    const piece = rest.subarray(written, Math.min(sent, written + step));
    const stop = await Promise.race([
      new Promise<boolean>((resolve) => req.write(piece, () => resolve(false))),
      ended.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 15_000).unref()),
    ]);
    if (stop) break;
    written += piece.length;
  }
  if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  await proc.stop('SIGKILL');
  req.destroy();
}

/**
 * Create an upload of `data` on a process with `env`, then kill and restart the process at the
 * plan's moments, resuming from HEAD each time, and complete the upload. Returns its id and the
 * process now running (stopped with the test).
 */
export async function killsThenComplete(
  t: Test,
  env: Record<string, string>,
  data: Buffer,
  random: () => number,
  plan: KillPlan,
): Promise<{ id: string; proc: ServerProcess }> {
  let proc = await startProcess(env);
  t.teardown(() => proc.stop('SIGKILL'));
  const url0 = await createUpload(proc.url, data.length);
  const id = url0.split('/').pop() as string;
  const urlOf = (p: ServerProcess) => `${p.url}/files/${id}`;
  let acknowledged = 0;
  const log: string[] = [];
  for (let k = 0; k <= plan.kills; k++) {
    const rest = data.subarray(acknowledged);
    // The last kill lands right after the last byte (completion), after a seeded delay of up to
    // completionDelayMs, to land while the server stores the end; the others after a random count.
    const last = k === plan.kills;
    const sent = last ? rest.length : 1 + Math.floor(random() * (rest.length - 1));
    const delay = last ? Math.floor(random() * plan.completionDelayMs) : 0;
    await patchThenKill(proc, urlOf(proc), acknowledged, rest, sent, delay);
    proc = await startProcess(env);
    const res = await head(urlOf(proc));
    t.equal(res.status, 200, `kill ${k}: the new process knows the upload`);
    const offset = Number(res.headers.get('upload-offset'));
    log.push(`kill ${k}: from ${acknowledged} sent ${sent}${last ? ` +${delay} ms` : ''} -> HEAD ${offset}`);
    if (offset > acknowledged + sent || offset < acknowledged) {
      t.fail(`kill ${k}: HEAD offset ${offset} outside [${acknowledged}, ${acknowledged + sent}]`);
      break;
    }
    acknowledged = offset;
  }
  t.comment(`SEED=${plan.seed} KILLS=${plan.kills} SIZE=${data.length}; ${log.join('; ')}`);
  if (acknowledged < data.length) {
    const done = await patch(urlOf(proc), acknowledged, data.subarray(acknowledged));
    t.equal(done.status, 204, 'the rest completes from the HEAD offset');
    t.equal(done.headers.get('upload-offset'), String(data.length));
  }
  const final = await head(urlOf(proc));
  t.equal(final.headers.get('upload-offset'), String(data.length), 'HEAD: complete');
  return { id, proc };
}

/**
 * After a restart: HEAD (never past the length), then PATCH the rest from that offset, and check
 * that the upload is complete. `label` names the case in the comment.
 */
export async function completeFromHead(t: Test, url: string, data: Buffer, label: string): Promise<void> {
  let offset = Number((await head(url)).headers.get('upload-offset'));
  t.comment(`${label}: HEAD after the restart says ${offset} of ${data.length}`);
  t.ok(offset <= data.length, 'the offset never passes the length');
  if (offset < data.length) {
    const done = await patch(url, offset, data.subarray(offset));
    t.equal(done.status, 204, 'the rest completes from the HEAD offset');
    offset = Number(done.headers.get('upload-offset'));
  }
  t.equal(offset, data.length);
  t.equal((await head(url)).headers.get('upload-offset'), String(data.length), 'HEAD: complete');
}
