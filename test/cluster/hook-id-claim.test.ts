/**
 * An upload id chosen by a pre-create hook (ChangeFileInfo.ID), claimed across instances
 * (issue 21): two server processes (dist/main.js) share one S3 root and one Redis; a hook
 * receiver answers every pre-create with the same id, both answers together 300 ms after the
 * second arrives; alice POSTs to one instance
 * and bob to the other at the same moment, each with bytes of their own. Every round exactly one
 * is created (201) and the other hears the refusal one instance gives (502 "already in use");
 * the winner's bytes and ownership stand (the loser gets 404 for it). Without the claim, both got
 * 201 with the same Location and the later creation replaced the earlier one, owner included.
 *
 * Then the same race without Redis, where the store alone must refuse the second creation: on S3
 * when the endpoint honours PutObject If-None-Match (skipped on Swift's s3api, which answers 501;
 * run it against Ceph with `S3_TEST_*` from scripts/ceph-server.sh), and on one local directory
 * shared by two processes (the file opened `wx`).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import t, { type Test } from 'tap';
import { TUS } from '../helpers/app.js';
import { randomData, sha256 } from '../helpers/bytes.js';
import { twoInstances } from '../helpers/cluster.js';
import { HookReceiver } from '../helpers/hook-receiver.js';
import type { ServerProcess } from '../helpers/process.js';
import { redisCommand, startRedis } from '../helpers/redis.js';
import { honoursIfNoneMatch, listKeys, objectSha256, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';

const ROUNDS = 5;
const HOOK_DELAY = 300;
const HOOK_SECRET = 'tus-hook-test-secret-3b9d2f61';
const JWT_SECRET = randomBytes(32).toString('hex');
const IN_USE = /chose an upload id that is already in use; nothing was created/;
const server = s3TestServer();
const verify = verifyClient(server);
const redis = await startRedis();
t.teardown(() => redis.close());

const token = (sub: string) =>
  new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(JWT_SECRET));
const users = { alice: { Authorization: `Bearer ${await token('alice')}` }, bob: { Authorization: `Bearer ${await token('bob')}` } };
type User = keyof typeof users;

interface Chooser {
  /** The id every pre-create is answered with. */
  id: string;
  /** Pre-creates answered in pairs: both once the second has arrived, HOOK_DELAY ms later. */
  pairs: boolean;
  url: string;
}

/**
 * A hook receiver answering every pre-create with the chosen id, HOOK_DELAY ms late; in pairs,
 * both answers leave together, so both creations check the id before either creates it.
 */
async function receiver(t: Test): Promise<Chooser> {
  const hooks = await HookReceiver.start(HOOK_SECRET);
  t.teardown(() => hooks.close());
  const chooser: Chooser = { id: '', pairs: true, url: hooks.url };
  let waiting: Array<() => void> = [];
  hooks.respond = async (hook) => {
    if (hook.type !== 'pre-create') return {};
    const id = chooser.id;
    if (chooser.pairs) {
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
        if (waiting.length < 2) return;
        for (const go of waiting) go();
        waiting = [];
      });
    }
    return { delayMs: HOOK_DELAY, body: { ChangeFileInfo: { ID: id } } };
  };
  return chooser;
}

/** Creation with upload: the whole body in the POST, as `user`. */
function create(base: string, user: User, body: Buffer): Promise<Response> {
  return fetch(`${base}/files/`, {
    method: 'POST',
    headers: {
      ...TUS,
      ...users[user],
      'Upload-Length': String(body.length),
      'Content-Type': 'application/offset+octet-stream',
    },
    body: new Uint8Array(body),
  });
}

/** alice on `first`, bob on `second`, at the same moment: who got what. */
async function race(first: ServerProcess, second: ServerProcess, bodies: Record<User, Buffer>) {
  const [alice, bob] = await Promise.all([create(first.url, 'alice', bodies.alice), create(second.url, 'bob', bodies.bob)]);
  return {
    alice: { status: alice.status, location: alice.headers.get('location'), text: await alice.text() },
    bob: { status: bob.status, location: bob.headers.get('location'), text: await bob.text() },
  };
}

const headAs = (url: string, user: User) => fetch(url, { method: 'HEAD', headers: { ...TUS, ...users[user] } });

/** The environment every instance here runs with: the id-choosing hook and JWT auth, plus `extra`. */
const hookEnv = (hooks: Chooser, extra: Record<string, string> = {}): Record<string, string> => ({
  ...extra,
  HOOKS_HTTP_URL: hooks.url,
  HOOKS_HTTP_SECRET: HOOK_SECRET,
  HOOKS_ENABLED_EVENTS: 'pre-create',
  AUTH_JWT_SECRET: JWT_SECRET,
});

/**
 * One round: the hook chooses a fresh id, alice and bob race with `size` bytes each (alternating
 * which instance each reaches); exactly one is created and the other hears `refusal`.
 */
async function raceRound(t: Test, round: number, [a, b]: [ServerProcess, ServerProcess], hooks: Chooser, size: number, refusal: string) {
  const id = `race-${randomBytes(4).toString('hex')}-${round}`;
  hooks.id = id;
  const bodies = { alice: randomData(size), bob: randomData(size) };
  // Alternate which instance each user reaches.
  const answers = round % 2 ? await race(a, b, bodies) : await race(b, a, bodies);
  const statuses = [answers.alice.status, answers.bob.status];
  t.same([...statuses].sort(), [201, 502], `round ${round}: exactly one 201 (alice ${statuses[0]}, bob ${statuses[1]})`);
  const winner: User = answers.alice.status === 201 ? 'alice' : 'bob';
  const loser: User = winner === 'alice' ? 'bob' : 'alice';
  t.match(answers[loser].text, IN_USE, `round ${round}: ${refusal}`);
  return { id, bodies, answers, winner, loser };
}

/** The winner sees the upload at `base`, the loser does not. */
async function winnerOnly(t: Test, round: number, base: string, winner: User, loser: User) {
  t.equal((await headAs(base, winner)).status, 200, `round ${round}: ${winner} sees the upload`);
  t.equal((await headAs(base, loser)).status, 404, `round ${round}: ${loser} does not`);
}

t.test('S3 and Redis: simultaneous creations given the same id on two instances: one created, the other refused', async (t) => {
  const hooks = await receiver(t);
  const root = uniqueRoot('id-claim');
  const [a, b] = await twoInstances(t, s3LocationEnv(server, root, hookEnv(hooks, { REDIS: redis.url })));
  const created: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const { id, bodies, answers, winner, loser } = await raceRound(
      t,
      round,
      [a, b],
      hooks,
      64 * 1024,
      'the other hears the refusal a single instance gives',
    );
    t.equal(answers[loser].location, null, `round ${round}: the refusal names no upload`);
    const url = answers[winner].location as string;
    t.equal(new URL(url).pathname, `/files/${id}`, `round ${round}: the 201 names the hook's id`);
    created.push(id);

    // The winner's upload, on both instances: theirs, complete, holding their bytes.
    for (const instance of [a, b]) {
      const base = `${instance.url}/files/${id}`;
      const mine = await headAs(base, winner);
      t.equal(mine.status, 200, `round ${round}: ${winner} sees the upload`);
      t.equal(mine.headers.get('upload-offset'), String(bodies[winner].length), `round ${round}: every byte of ${winner}'s stored`);
      t.equal((await headAs(base, loser)).status, 404, `round ${round}: ${loser} does not (another subject's upload)`);
      const download = await fetch(base, { headers: users[winner] });
      t.equal(download.status, 200);
      t.equal(
        sha256(Buffer.from(await download.arrayBuffer())),
        sha256(bodies[winner]),
        `round ${round}: the download is ${winner}'s bytes`,
      );
    }
    const stored = await objectSha256(verify, server.bucket, `${root}${id}`);
    t.equal(stored.sha256, sha256(bodies[winner]), `round ${round}: the object in the bucket is ${winner}'s`);
    t.equal(
      await redisCommand(redis, 'EXISTS', `tus:s3:claim:${id}`),
      0,
      `round ${round}: the claim is released once the creation is over`,
    );
  }

  // After the creation the upload itself holds the id: a later creation given it is refused on either instance.
  hooks.id = created[0] as string;
  hooks.pairs = false;
  for (const instance of [a, b]) {
    const late = await create(instance.url, 'bob', randomData(10));
    t.equal(late.status, 502, 'a later creation given a used id is refused');
    t.match(await late.text(), IN_USE);
  }
  const keys = (await listKeys(verify, server.bucket, root)).filter((key) => key !== `${root}.tus-readyz`);
  t.same(
    keys,
    created.flatMap((id) => [`${root}${id}`, `${root}${id}.info`]).sort(),
    "the bucket holds the winners' uploads, nothing else",
  );
});

// Where the S3 endpoint honours If-None-Match (Ceph radosgw, MinIO, AWS; not Swift's s3api), the
// S3 store's exclusive create alone refuses the second creation, without Redis.
const honours = await honoursIfNoneMatch(server, uniqueRoot('id-claim-probe'));
t.test(
  'S3 without Redis: the conditional create of .info refuses the second',
  { skip: honours ? false : "the S3 test endpoint does not honour If-None-Match (Swift's s3api answers 501)" },
  async (t) => {
    const hooks = await receiver(t);
    const root = uniqueRoot('id-claim-conditional');
    const [a, b] = await twoInstances(t, s3LocationEnv(server, root, hookEnv(hooks)));
    for (let round = 1; round <= ROUNDS; round++) {
      const { id, bodies, winner, loser } = await raceRound(t, round, [a, b], hooks, 16 * 1024, 'the other hears the refusal');
      await winnerOnly(t, round, `${b.url}/files/${id}`, winner, loser);
      const stored = await objectSha256(verify, server.bucket, `${root}${id}`);
      t.equal(stored.sha256, sha256(bodies[winner]), `round ${round}: the object in the bucket is ${winner}'s`);
    }
  },
);

t.test('local disk without Redis: two instances on one directory; the exclusive create refuses the second', async (t) => {
  const hooks = await receiver(t);
  const dir = mkdtempSync(join(tmpdir(), 'tus-id-claim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [a, b] = await twoInstances(
    t,
    hookEnv(hooks, { STORAGE_LOCATIONS: 'local', STORAGE_LOCAL_DRIVER: 'local', STORAGE_LOCAL_ROOT: dir }),
  );
  for (let round = 1; round <= ROUNDS; round++) {
    const { id, bodies, winner, loser } = await raceRound(t, round, [a, b], hooks, 16 * 1024, 'the other hears the refusal');
    await winnerOnly(t, round, `${a.url}/files/${id}`, winner, loser);
    t.equal(sha256(readFileSync(join(dir, id))), sha256(bodies[winner]), `round ${round}: the file holds ${winner}'s bytes`);
  }
  t.equal(readdirSync(dir).filter((name) => name.startsWith('race-') && !name.endsWith('.json')).length, ROUNDS, 'one file per id');
});
