/** A lock that is not released in time answers 423 Locked with Retry-After and a reason, not 500. */
import { FileStore } from '@tus/file-store';
import { MemoryLocker } from '@tus/server';
import t from 'tap';
import { adjustAnswer, answerOf, headerOf, reasonOf } from '../../src/tus/answer.js';
import { createEngine, LOCK_TIMEOUT_BODY } from '../../src/tus/engine.js';
import { scratchDir } from '../helpers/scratch.js';

t.test('HEAD while another holder keeps the lock past the timeout: 423 with Retry-After', async (t) => {
  const locker = new MemoryLocker({ acquireLockTimeout: 300 });
  const engine = createEngine({
    path: '/files',
    datastore: new FileStore({ directory: scratchDir(t, 'tus-lock-') }),
    maxSize: 0,
    locker,
    terminateFinished: false,
  });
  const created = await engine.handleWeb(
    new Request('http://localhost/files', { method: 'POST', headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '10' } }),
  );
  t.equal(created.status, 201);
  const id = created.headers.get('location')?.split('/').pop() as string;
  // A holder that never lets go (it ignores release requests).
  const lock = locker.newLock(id);
  await lock.lock(new AbortController().signal, async () => {});
  t.teardown(() => lock.unlock());

  const response = await engine.handleWeb(
    new Request(`http://localhost/files/${id}`, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' } }),
  );
  const adjusted = await adjustAnswer(await answerOf(response), {
    method: 'HEAD',
    extraExtensions: [],
    currentOffset: async () => undefined,
  });
  t.equal(adjusted.status, 423);
  t.equal(reasonOf(adjusted.status), 'Locked');
  t.equal(headerOf(adjusted, 'retry-after'), '3');
  t.equal(adjusted.body, LOCK_TIMEOUT_BODY);
});
