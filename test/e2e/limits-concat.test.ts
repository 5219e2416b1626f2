/**
 * Concatenation amplification (issue 21, point 5): a final upload copies its partials' bytes,
 * so one partial listed many times, in many finals, wrote far more than was ever sent (one
 * 1 MiB partial listed 350 times, three times: 1.05 GB from 1 MiB). By default a final lists at
 * most TUS_CONCAT_MAX_PARTS (100) partials and a partial's bytes go into at most
 * TUS_CONCAT_MAX_USES (1) finals; a refusal is 400 naming the variable, and writes nothing.
 * Both drivers: the claims are recorded on the partials (on S3 too, whose small partials keep
 * their state in the object).
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { createUpload, head, patch, startApp, startAppFor, TUS } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, listBlobs, verifyContainer } from '../helpers/azure.js';
import { listKeys, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { MiB } from '../helpers/sizes.js';
import { until } from '../helpers/wait.js';

const server = s3TestServer();

interface Driver {
  name: 'local' | 's3' | 'azure';
  env(extra?: Record<string, string>): Record<string, string>;
}

const drivers: Driver[] = [
  { name: 'local', env: (extra = {}) => ({ ...extra }) },
  { name: 's3', env: (extra = {}) => ({ ...s3LocationEnv(server, uniqueRoot('concat')), ...extra }) },
  { name: 'azure', env: (extra = {}) => ({ ...azureLocationEnv(azureTestServer(), uniqueRoot('concat')), ...extra }) },
];

/** Every object or file the location holds. */
async function stored(driver: Driver, app: { root: string }, env: Record<string, string>): Promise<string[]> {
  if (driver.name === 'local') return readdirSync(app.root).sort();
  if (driver.name === 'azure') return listBlobs(verifyContainer(azureTestServer()), env.STORAGE_AZURE_ROOT as string);
  return listKeys(verifyClient(server), server.bucket, env.STORAGE_S3_ROOT as string);
}

const final = (base: string, partials: readonly string[]) =>
  fetch(`${base}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Concat': `final;${partials.join(' ')}` } });

/** A finished partial upload of `data`, by its path. */
async function partial(base: string, data: Buffer): Promise<string> {
  const url = await createUpload(base, data.length, { 'Upload-Concat': 'partial' });
  if (data.length > 0 && (await patch(url, 0, data)).status !== 204) throw new Error('partial not stored');
  return new URL(url).pathname;
}

const download = async (base: string, res: Response) =>
  Buffer.from(await (await fetch(new URL(res.headers.get('location') as string, base))).arrayBuffer());

for (const driver of drivers) {
  t.test(`${driver.name}: by default one partial goes into one final upload, once; the refusals write nothing`, async (t) => {
    const env = driver.env();
    const app = await startAppFor(t, env);
    const data = Buffer.alloc(MiB, 7);
    const p = await partial(app.url, data);
    const before = await stored(driver, app, env);

    const many = await final(app.url, Array(350).fill(p));
    t.equal(many.status, 400, 'the 350 listings of the report');
    t.equal(
      await many.text(),
      'Upload-Concat lists 350 partial uploads; a final upload may list at most 100 (TUS_CONCAT_MAX_PARTS); nothing was created\n',
    );
    for (const times of [100, 2]) {
      const repeated = await final(app.url, Array(times).fill(p));
      t.equal(repeated.status, 400, `listed ${times} times`);
      t.equal(
        await repeated.text(),
        `Upload-Concat: ${p} is listed ${times} times; a partial upload's bytes may go into final uploads 1 time (TUS_CONCAT_MAX_USES); nothing was created\n`,
      );
    }
    t.same(await stored(driver, app, env), before, 'nothing was written');

    const first = await final(app.url, [p]);
    t.equal(first.status, 201, 'listed once: the final upload');
    t.ok((await download(app.url, first)).equals(data), 'holds the partial');
    const after = await stored(driver, app, env);
    for (const attempt of [1, 2, 3]) {
      const again = await final(app.url, [p]);
      t.equal(again.status, 400, `another final upload of the same partial, attempt ${attempt}`);
      t.match(
        await again.text(),
        new RegExp(
          `^Upload-Concat: ${p} is already used by a final upload, and a partial upload's bytes may go into final uploads 1 time \\(TUS_CONCAT_MAX_USES\\): upload those bytes again as a new partial upload; nothing was created\\n$`,
        ),
      );
    }
    t.same(await stored(driver, app, env), after, 'nothing was written by the refused ones');
    if (driver.name === 'local') {
      const bytes = readdirSync(app.root).reduce((sum, name) => sum + statSync(join(app.root, name)).size, 0);
      t.ok(bytes < 2 * MiB + 64 * 1024, `${bytes} bytes stored for 1 MiB sent: the partial and one copy`);
    }

    // A partial sent whole with its creation (on S3 its state is in the object, and the claim moves it to .info) is used once too.
    const whole = await fetch(`${app.url}/files/`, {
      method: 'POST',
      headers: { ...TUS, 'Upload-Length': '3', 'Upload-Concat': 'partial', 'Content-Type': 'application/offset+octet-stream' },
      body: 'abc',
    });
    t.equal(whole.headers.get('upload-offset'), '3');
    const small = new URL(whole.headers.get('location') as string, app.url).pathname;
    const once = await final(app.url, [small]);
    t.equal(once.status, 201);
    t.equal((await download(app.url, once)).toString(), 'abc');
    t.equal((await final(app.url, [small])).status, 400);
    t.equal((await head(`${app.url}${small}`)).headers.get('upload-metadata'), null, 'the claims are not shown as metadata');
  });
}

t.test('TUS_CONCAT_MAX_PARTS and TUS_CONCAT_MAX_USES set: each as configured; 0 is no limit', async (t) => {
  const app = await startAppFor(t, { TUS_CONCAT_MAX_PARTS: '3', TUS_CONCAT_MAX_USES: '2' });
  const parts = [];
  for (const text of ['a', 'b', 'c', 'd']) parts.push(await partial(app.url, Buffer.from(text)));
  const four = await final(app.url, parts);
  t.equal(four.status, 400);
  t.match(await four.text(), /lists 4 partial uploads; a final upload may list at most 3 \(TUS_CONCAT_MAX_PARTS\)/);
  const twice = await final(app.url, [parts[0] as string, parts[0] as string, parts[1] as string]);
  t.equal(twice.status, 201, 'listed twice: two uses of two');
  t.equal((await download(app.url, twice)).toString(), 'aab');
  const third = await final(app.url, [parts[0] as string]);
  t.equal(third.status, 400);
  t.match(await third.text(), /is already used by 2 final uploads, and a partial upload's bytes may go into final uploads 2 times/);
  t.equal((await final(app.url, [parts[1] as string])).status, 201, 'b was used once: once more is allowed');

  const unlimited = await startApp({ TUS_CONCAT_MAX_PARTS: '0', TUS_CONCAT_MAX_USES: '0' });
  t.teardown(() => unlimited.close());
  const p = await partial(unlimited.url, Buffer.from('xy'));
  for (let i = 0; i < 2; i++) {
    const res = await final(unlimited.url, Array(150).fill(p));
    t.equal(res.status, 201, `150 listings, final upload ${i + 1}`);
    t.equal((await download(unlimited.url, res)).toString(), 'xy'.repeat(150));
  }

  t.same([parseConfig({}).concatMaxParts, parseConfig({}).concatMaxUses], [100, 1], 'the defaults');
  for (const [name, value] of [
    ['TUS_CONCAT_MAX_PARTS', '-1'],
    ['TUS_CONCAT_MAX_USES', 'once'],
  ]) {
    t.throws(() => parseConfig({ [name as string]: value as string }), ConfigError);
    try {
      parseConfig({ [name as string]: value as string });
    } catch (error) {
      t.match(String((error as Error).message), new RegExp(`${name}="${value}"`), `${name} is named`);
    }
  }
});

t.test('concatenation-unfinished: the first final upload claims the partial; later ones are refused at once', async (t) => {
  const app = await startAppFor(t);
  const p = await createUpload(app.url, 3, { 'Upload-Concat': 'partial' });
  const first = await final(app.url, [p]);
  t.equal(first.status, 201, 'waiting for the partial');
  const second = await final(app.url, [p]);
  t.equal(second.status, 400);
  t.match(await second.text(), /is already used by a final upload/);
  t.equal((await patch(p, 0, Buffer.from('abc'))).status, 204);
  const firstUrl = new URL(first.headers.get('location') as string, app.url).toString();
  await until(async () => (await head(firstUrl)).headers.get('upload-offset') === '3', 'the final upload to be assembled', 30_000);
  t.equal((await final(app.url, [p])).status, 400, 'and still once it is assembled');
  // A finished partial listed with an unfinished one: claimed (under its lock) when the final is created.
  const done = await partial(app.url, Buffer.from('de'));
  const open = await createUpload(app.url, 1, { 'Upload-Concat': 'partial' });
  t.equal((await final(app.url, [done, open])).status, 201);
  t.equal((await final(app.url, [done])).status, 400, 'the finished partial is claimed by the waiting final');
});

t.test('a claim lost to a concurrent write: the final upload that claimed first is assembled, the other never', async (t) => {
  const app = await startAppFor(t);
  const p = await createUpload(app.url, 3, { 'Upload-Concat': 'partial' });
  const waiting = await final(app.url, [p]);
  t.equal(waiting.status, 201);
  const waitingUrl = new URL(waiting.headers.get('location') as string, app.url).toString();
  // What a PATCH of the partial saving its state at that moment would do: the claim is gone.
  const info = join(app.root, `${new URL(p).pathname.split('/').pop()}.json`);
  const state = JSON.parse(readFileSync(info, 'utf8'));
  delete state.metadata['tus-concat-finals'];
  writeFileSync(info, JSON.stringify(state));
  t.equal((await patch(p, 0, Buffer.from('abc'))).status, 204, 'the partial finishes; nothing names the waiting final');
  const other = await final(app.url, [p]);
  t.equal(other.status, 201, 'another final upload finds the partial unclaimed and is assembled');
  t.equal((await download(app.url, other)).toString(), 'abc');
  const h = await head(waitingUrl);
  t.equal(h.status, 400, 'the waiting final upload can never be completed');
  t.equal((await head(waitingUrl)).status, 400, 'and stays so');
  const get = await fetch(waitingUrl);
  t.equal(get.status, 400, 'it has no bytes to download');
  t.match(await get.text(), /^The upload is not finished \(0 of/);
});
