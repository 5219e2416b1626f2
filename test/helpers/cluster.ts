/** Several server processes (dist/main.js) side by side, as a cluster scenario starts them. */
import type { Test } from 'tap';
import { type ServerProcess, startProcess } from './process.js';

/** Two instances with the same environment, both killed (SIGKILL) when the test ends. */
export async function twoInstances(t: Test, env: Record<string, string>): Promise<[ServerProcess, ServerProcess]> {
  const [a, b] = await Promise.all([startProcess(env), startProcess(env)]);
  t.teardown(() => Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')]));
  return [a, b];
}
