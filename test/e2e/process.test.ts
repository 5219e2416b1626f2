import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { createUpload, patch, TUS } from '../helpers/app.js';
import { runToExit, startProcess } from '../helpers/process.js';
import { scratchDir } from '../helpers/scratch.js';

/** Call `probe` until `done` holds for its answer or `ms` have passed; every answer, in order. */
async function pollUntil<T>(probe: () => Promise<T>, done: (value: T) => boolean, ms: number): Promise<T[]> {
  const deadline = Date.now() + ms;
  const seen = [await probe()];
  while (!done(seen.at(-1) as T) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    seen.push(await probe());
  }
  return seen;
}

t.test('the built server starts with no configuration and stores under ./uploads', async (t) => {
  const cwd = scratchDir(t, 'tus-quickstart-');
  const server = await startProcess({}, { cwd });
  t.teardown(() => server.stop('SIGKILL'));
  const url = await createUpload(server.url, 5);
  t.equal((await patch(url, 0, Buffer.from('hello'))).status, 204);
  t.ok((await readdir(join(cwd, 'uploads'))).includes(url.split('/').pop() as string), 'file under ./uploads');
  const code = await server.stop('SIGTERM');
  t.equal(code, 0, 'SIGTERM exits 0');
  t.match(server.output(), /"msg":"tus-s3-server ready"/);
});

t.test('a misconfigured server refuses to start and names each variable', async (t) => {
  const { code, output } = await runToExit({
    PORT: 'eighty',
    STORAGE_LOCATIONS: 'media',
    STORAGE_MEDIA_DRIVER: 's3',
    STORAGE_MEDIA_REGION: 'us-east-1',
  });
  t.equal(code, 2);
  t.match(output, /refusing to start/);
  t.match(output, /PORT="eighty": expected a whole number/);
  t.match(output, /STORAGE_MEDIA_BUCKET=unset: required: the bucket name/);
});

t.test('PATCH with no Tus-Resumable through the process gets 412', async (t) => {
  const cwd = scratchDir(t, 'tus-quickstart-');
  const server = await startProcess({}, { cwd });
  t.teardown(() => server.stop('SIGKILL'));
  const url = await createUpload(server.url, 5);
  const res = await fetch(url, {
    method: 'PATCH',
    headers: { 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    body: 'hello',
  });
  t.equal(res.status, 412);
  t.equal((await fetch(url, { method: 'HEAD', headers: TUS })).headers.get('upload-offset'), '0');
});

t.test('cleanup of expired uploads runs once from the command line', async (t) => {
  const cwd = scratchDir(t, 'tus-cleanup-');
  const server = await startProcess({ TUS_UPLOAD_EXPIRATION: '1s' }, { cwd });
  t.teardown(() => server.stop('SIGKILL'));
  const url = await createUpload(server.url, 10);
  t.equal((await patch(url, 0, Buffer.from('abc'))).status, 204);
  // Until the server itself says the upload has expired (410 Gone), within a deadline.
  const statuses = await pollUntil(
    async () => (await fetch(url, { method: 'HEAD', headers: TUS })).status,
    (s) => s !== 200,
    10000,
  );
  t.equal(statuses.at(-1), 410, `the upload expires: HEAD answered ${[...new Set(statuses)].join(' then ')}`);
  t.equal(await server.stop('SIGTERM'), 0);
  t.ok((await readdir(join(cwd, 'uploads'))).includes(url.split('/').pop() as string), 'still on disk until the cleanup');
  const { code, output } = await runToExit({ TUS_UPLOAD_EXPIRATION: '1s' }, cwd, ['cleanup']);
  t.equal(code, 0, output);
  t.match(output, /"removed":\{"local":1\}/);
  t.notOk((await readdir(join(cwd, 'uploads'))).includes(url.split('/').pop() as string), 'the expired upload is gone');
});

t.test('LOG_STYLE=pretty writes human-readable lines; raw writes JSON', async (t) => {
  const cwd = scratchDir(t, 'tus-pretty-');
  const pretty = await startProcess({ LOG_STYLE: 'pretty' }, { cwd });
  t.teardown(() => pretty.stop('SIGKILL'));
  t.equal((await fetch(`${pretty.url}/healthz`)).status, 200);
  // pino-pretty writes from a worker thread: wait for the ready line to come out, within a deadline.
  await pollUntil(
    async () => pretty.output(),
    (out) => /tus-s3-server ready/.test(out),
    10000,
  );
  t.equal(await pretty.stop('SIGTERM'), 0);
  t.match(pretty.output(), /INFO.*tus-s3-server ready/);
  t.notMatch(pretty.output(), /^\{"level"/m);
});
