/**
 * A client resuming through storage faults (test/s3/faults.test.ts, test/azure/faults.test.ts):
 * HEAD, then PATCH from the offset it answers, until the upload is complete; and the check that
 * every failure on the way was a clear answer.
 */
import type { Test } from 'tap';
import { head, patch } from './app.js';
import { seededRandom } from './fault-proxy.js';

/** `size` seeded bytes: the same seed, the same data (a run replays). */
export function faultData(size: number, seed: number): Buffer {
  const rnd = seededRandom(seed);
  const data = Buffer.alloc(size + 4);
  for (let i = 0; i < size; i += 4) data.writeUInt32LE(Math.floor(rnd() * 2 ** 32), i);
  return data.subarray(0, size);
}

/** The upload's offset as HEAD answers it; any other status than 200 throws. */
export async function headOffset(url: string): Promise<number> {
  const res = await head(url);
  if (res.status !== 200) throw new Error(`HEAD ${res.status}`);
  return Number(res.headers.get('upload-offset'));
}

export interface Failure {
  status: number;
  body: string;
}

/** Send `data` from the server's offset on in PATCHes of `step` bytes, until complete; each failure is returned. */
export async function resumeUntilComplete(url: string, data: Buffer, step: number, attempts = 20): Promise<Failure[]> {
  const failures: Failure[] = [];
  for (let i = 0; i < attempts; i++) {
    const res = await head(url);
    if (res.status !== 200) {
      // A HEAD answer has no body to judge: its status is.
      failures.push({ status: res.status, body: `HEAD answered ${res.status} (storage failed)` });
      continue;
    }
    const offset = Number(res.headers.get('upload-offset'));
    if (offset === data.length) return failures;
    const body = data.subarray(offset, Math.min(offset + step, data.length));
    const answer = await patch(url, offset, body);
    const text = await answer.text();
    if (answer.status !== 204) failures.push({ status: answer.status, body: text });
  }
  throw new Error(`not complete after ${attempts} rounds: ${JSON.stringify(failures.slice(-3))}`);
}

/** Failures are clear: a 5xx with a plain message naming the storage (`names`, such as /S3/), never a stack trace. */
export function assertClearFailures(t: Test, failures: Failure[], names: RegExp): void {
  for (const f of failures) {
    t.ok(f.status >= 500 && f.status <= 504, `failure status ${f.status}`);
    t.match(f.body, new RegExp(`${names.source}|storage|retry|again`, 'i'), `clear message: ${f.body.trim().slice(0, 160)}`);
    t.notMatch(f.body, /\n\s+at /, 'no stack trace');
  }
}
