/**
 * Authentication over real HTTP: bearer JWTs (HS256 secret, RS256 PEM key, ES256 JWKS file,
 * EdDSA JWKS URL with key rotation), Directus access tokens, static tokens, query tokens; the
 * 401s and what they say; the open endpoints; and that no token reaches the log.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import t from 'tap';
import { parseConfig } from '../../src/config/index.js';
import { logDir, startAppFor, TUS } from '../helpers/app.js';
import { configProblems } from '../helpers/config.js';
import { scratchFile } from '../helpers/scratch.js';
import { until } from '../helpers/wait.js';

const SECRET = randomBytes(32).toString('hex');
const STATIC_TOKEN = `st_${randomBytes(24).toString('hex')}`;
const sha = (v: string) => createHash('sha256').update(v).digest('hex');

async function hs256(payload: JWTPayload, secret = SECRET, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...header })
    .setIssuedAt()
    .setExpirationTime(typeof payload.exp === 'number' ? payload.exp : '10m')
    .sign(new TextEncoder().encode(secret));
}

const create = (base: string, token?: string, extra: Record<string, string> = {}) =>
  fetch(`${base}/files/`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': '5', ...(token ? { Authorization: `Bearer ${token}` } : {}), ...extra },
  });

t.test('HS256 secret, static tokens, and every way a token is refused', async (t) => {
  const app = await startAppFor(t, {
    AUTH_JWT_SECRET: SECRET,
    AUTH_JWT_ISSUER: 'issuer-a,issuer-b',
    AUTH_JWT_AUDIENCE: 'uploads',
    AUTH_JWT_CLOCK_SKEW: '30s',
    AUTH_STATIC_TOKENS: `ci:${sha(STATIC_TOKEN)}`,
    METRICS_TOKENS: 'metrics-secret-token',
  });
  const good = { sub: 'alice', iss: 'issuer-a', aud: 'uploads' };

  t.test('a valid token creates; the second issuer is accepted too', async (t) => {
    t.equal((await create(app.url, await hs256(good))).status, 201);
    t.equal((await create(app.url, await hs256({ ...good, iss: 'issuer-b' }))).status, 201);
    // exp 10 s ago is inside the 30 s clock skew.
    const now = Math.floor(Date.now() / 1000);
    t.equal((await create(app.url, await hs256({ ...good, exp: now - 10 }))).status, 201, 'within AUTH_JWT_CLOCK_SKEW');
  });

  t.test('no token: 401 with a Bearer challenge and no error code', async (t) => {
    for (const method of ['POST', 'HEAD', 'PATCH', 'DELETE', 'GET']) {
      const res = await fetch(`${app.url}/files/${method === 'POST' ? '' : 'abc123'}`, {
        method,
        headers: { ...TUS, 'Upload-Length': '5' },
      });
      t.equal(res.status, 401, method);
      t.equal(res.headers.get('www-authenticate'), 'Bearer realm="tus-s3-server"', method);
      if (method !== 'HEAD') t.match(await res.text(), /authentication required: send Authorization: Bearer <token>/, method);
    }
  });

  const refused = async (token: string, expected: RegExp, code = 'invalid_token') => {
    const res = await create(app.url, token);
    const body = await res.text();
    t.equal(res.status, 401, body);
    t.match(body, expected);
    t.match(res.headers.get('www-authenticate') ?? '', new RegExp(`^Bearer realm="tus-s3-server", error="${code}", error_description="`));
    t.notMatch(body, token, 'the token is not echoed');
  };

  t.test('bad signature', async () => refused(await hs256(good, 'another-secret-of-enough-length-0000'), /signature does not verify/));
  t.test('wrong issuer', async () => refused(await hs256({ ...good, iss: 'mallory' }), /issuer this server does not accept/));
  t.test('wrong audience', async () => refused(await hs256({ ...good, aud: 'billing' }), /another audience/));
  t.test('expired beyond the skew', async () => refused(await hs256({ ...good, exp: Math.floor(Date.now() / 1000) - 120 }), /has expired/));
  t.test('not yet valid', async () => refused(await hs256({ ...good, nbf: Math.floor(Date.now() / 1000) + 300 }), /not valid yet/));
  // jose checks iat's type only; AUTH_JWT_CLOCK_SKEW covers iat as it covers exp and nbf.
  const signed = (claims: Record<string, unknown>) =>
    new SignJWT({ ...good, exp: Math.floor(Date.now() / 1000) + 600, ...claims })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode(SECRET));
  t.test('issued in the future beyond the skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refused(
      await signed({ iat: now + 3600 }),
      /the token was issued in the future \(iat is 3[56]\d\d s ahead of this server's clock, more than AUTH_JWT_CLOCK_SKEW allows\)/,
    );
    await refused(await signed({ iat: now + 120, exp: now + 7200 }), /issued in the future/);
  });
  t.test('issued in the future within the skew, or in the past: accepted', async (t) => {
    const now = Math.floor(Date.now() / 1000);
    t.equal((await create(app.url, await signed({ iat: now + 20 }))).status, 201, 'iat 20 s ahead, skew 30 s');
    t.equal((await create(app.url, await signed({ iat: now - 86400 }))).status, 201, 'iat a day ago');
    t.equal((await create(app.url, await signed({}))).status, 201, 'no iat');
  });
  t.test('time claims that are not NumericDates', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refused(await signed({ iat: String(now) }), /the token's iat must be a NumericDate \(a number of seconds since 1970\)/);
    await refused(await signed({ iat: 'yesterday' }), /iat must be a NumericDate/);
    await refused(await signed({ nbf: String(now) }), /the token's nbf must be a NumericDate/);
    await refused(await signed({ exp: String(now + 600) }), /the token's exp must be a NumericDate/);
  });
  t.test('time claims past the number range (1e400 parses as Infinity): not NumericDates', async () => {
    // Signed by hand: a JSON encoder never writes 1e400.
    const sign = (payload: string) => {
      const part = (text: string) => Buffer.from(text).toString('base64url');
      const input = `${part('{"alg":"HS256","typ":"JWT"}')}.${part(payload)}`;
      return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
    };
    const base = JSON.stringify({ ...good, exp: Math.floor(Date.now() / 1000) + 600 }).slice(0, -1);
    await refused(sign(`${JSON.stringify(good).slice(0, -1)},"exp":1e400}`), /the token's exp must be a NumericDate/);
    await refused(sign(`${base},"iat":1e400}`), /the token's iat must be a NumericDate/);
    await refused(sign(`${base},"nbf":-1e400}`), /the token's nbf must be a NumericDate/);
  });
  t.test('no expiry', async () => {
    const forever = await new SignJWT(good).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
    await refused(forever, /has no expiry \(exp\); tokens must expire/);
  });
  t.test('no subject', async () => refused(await hs256({ iss: 'issuer-a', aud: 'uploads' }), /names no subject/));
  t.test('malformed', async () => refused('abc.def.ghi', /malformed|not a JWT/));
  t.test('not a JWT nor a static token', async () => refused('plain-garbage', /not a JWT .* nor a known static token/));
  t.test('alg none', async () => {
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(good)).toString('base64url')}.`;
    await refused(none, /signed with none are not accepted/);
  });
  t.test('RS256 token with no public key configured', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT(good).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('5m').sign(privateKey);
    await refused(token, /signed with RS256 are not accepted/);
  });
  t.test('Basic instead of Bearer', async (t) => {
    const res = await fetch(`${app.url}/files/`, {
      method: 'POST',
      headers: { ...TUS, 'Upload-Length': '5', Authorization: 'Basic YTpi' },
    });
    t.equal(res.status, 401);
    t.match(await res.text(), /must be "Bearer <token>"/);
    t.match(res.headers.get('www-authenticate') ?? '', /error="invalid_request"/);
  });
  t.test('a token in the query string is refused unless AUTH_QUERY_TOKEN', async (t) => {
    const res = await fetch(`${app.url}/files/?access_token=${await hs256(good)}`, {
      method: 'POST',
      headers: { ...TUS, 'Upload-Length': '5' },
    });
    t.equal(res.status, 401);
    t.match(await res.text(), /tokens in the URL \(access_token\) are not accepted/);
  });

  t.test('static token: accepted, its name is the subject in the log, the token never is', async (t) => {
    const res = await create(app.url, STATIC_TOKEN);
    t.equal(res.status, 201);
    const id = new URL(res.headers.get('location') as string).pathname.split('/').pop() as string;
    t.equal((await create(app.url, `${STATIC_TOKEN}x`)).status, 401, 'a different token is not accepted');
    const logFile = join(logDir, `app-${process.pid}.log`);
    await until(() => readFileSync(logFile, 'utf8').includes(id), 'the request log line');
    const line = readFileSync(logFile, 'utf8')
      .split('\n')
      .find((l) => l.includes(id) && l.includes('"method":"POST"'));
    t.match(JSON.parse(line as string), { subject: 'token:ci', status: 201 });
  });

  t.test('OPTIONS, /healthz and /readyz stay open; /metrics keeps its own tokens', async (t) => {
    t.equal((await fetch(`${app.url}/files/`, { method: 'OPTIONS' })).status, 204);
    t.equal((await fetch(`${app.url}/healthz`)).status, 200);
    t.equal((await fetch(`${app.url}/readyz`)).status, 200);
    t.equal((await fetch(`${app.url}/metrics`)).status, 401);
    t.equal(
      (await fetch(`${app.url}/metrics`, { headers: { Authorization: `Bearer ${STATIC_TOKEN}` } })).status,
      401,
      'an upload token is not a metrics token',
    );
    t.equal((await fetch(`${app.url}/metrics`, { headers: { Authorization: 'Bearer metrics-secret-token' } })).status, 200);
  });

  t.test('no token or secret appears in the log', async (t) => {
    const log = readFileSync(join(logDir, `app-${process.pid}.log`), 'utf8');
    t.notOk(log.includes(STATIC_TOKEN), 'static token');
    t.notOk(log.includes(SECRET), 'secret');
    t.notOk(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/.test(log), 'no JWT');
  });
});

t.test('Directus access tokens authenticate their user (HS256, iss directus, user in id)', async (t) => {
  const DIRECTUS_SECRET = 'directus-secret-abcdefghijklmnopqrstuvwxyz';
  const app = await startAppFor(t, { AUTH_JWT_SECRET: DIRECTUS_SECRET, AUTH_JWT_ISSUER: 'directus' });
  // The shape of a token Directus issues at /auth/login.
  const directus = (id: string) =>
    hs256({ id, role: '0f2e3d4c-role', app_access: true, admin_access: false, iss: 'directus' }, DIRECTUS_SECRET);
  const userA = 'b7d0e6a8-0000-4000-8000-00000000000a';
  const res = await create(app.url, await directus(userA));
  t.equal(res.status, 201);
  const url = res.headers.get('location') as string;
  const headFor = async (token: string) =>
    (await fetch(url, { method: 'HEAD', headers: { ...TUS, Authorization: `Bearer ${token}` } })).status;
  t.equal(await headFor(await directus(userA)), 200, 'its creator');
  t.equal(await headFor(await directus('c1a2b3c4-0000-4000-8000-00000000000b')), 404, 'another Directus user');
  const foreign = await hs256({ id: userA, iss: 'someone-else' }, DIRECTUS_SECRET);
  t.equal(await headFor(foreign), 401, 'the issuer is checked');
});

t.test('RS256 with a PEM public key, ES256 with a JWKS file', async (t) => {
  const rsa = await generateKeyPair('RS256');
  const ec = await generateKeyPair('ES256');
  // Made before the app starts, so removed after it stops (teardowns run last registered first).
  const jwksFile = scratchFile(t, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' }] }));
  const pem = await exportSPKI(rsa.publicKey);
  const app = await startAppFor(t, { AUTH_JWT_PUBLIC_KEY: pem.replace(/\n/g, '\\n'), AUTH_JWT_JWKS_FILE: jwksFile });
  const rsToken = await new SignJWT({ sub: 'rs-user' }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('5m').sign(rsa.privateKey);
  t.equal((await create(app.url, rsToken)).status, 201, 'RS256 with AUTH_JWT_PUBLIC_KEY');
  const esToken = await new SignJWT({ sub: 'es-user' })
    .setProtectedHeader({ alg: 'ES256', kid: 'ec-1' })
    .setExpirationTime('5m')
    .sign(ec.privateKey);
  t.equal((await create(app.url, esToken)).status, 201, 'ES256 with AUTH_JWT_JWKS_FILE');
  const other = await generateKeyPair('ES256');
  const forged = await new SignJWT({ sub: 'es-user' })
    .setProtectedHeader({ alg: 'ES256', kid: 'ec-1' })
    .setExpirationTime('5m')
    .sign(other.privateKey);
  const res = await create(app.url, forged);
  t.equal(res.status, 401);
  t.match(await res.text(), /signature does not verify/);
  const hsWithoutSecret = await hs256({ sub: 'x' });
  t.match(await (await create(app.url, hsWithoutSecret)).text(), /HS256 are not accepted here \(no AUTH_JWT_SECRET\)/);
});

t.test('EdDSA with a JWKS URL: an unknown kid is refused, then accepted once the set rotates', async (t) => {
  const first = await generateKeyPair('EdDSA');
  const second = await generateKeyPair('EdDSA');
  const jwk = async (key: CryptoKey, kid: string): Promise<JWK> => ({ ...(await exportJWK(key)), kid, alg: 'EdDSA', use: 'sig' });
  let keys: JWK[] = [await jwk(first.publicKey, 'k1')];
  let fetches = 0;
  const jwksServer: Server = createServer((_req, res) => {
    fetches++;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => jwksServer.close(() => resolve())));
  const port = (jwksServer.address() as { port: number }).port;
  const app = await startAppFor(t, { AUTH_JWT_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json` });
  const sign = (key: CryptoKey, kid: string) =>
    new SignJWT({ sub: 'ed-user' }).setProtectedHeader({ alg: 'EdDSA', kid }).setExpirationTime('5m').sign(key);

  t.equal((await create(app.url, await sign(first.privateKey, 'k1'))).status, 201, 'k1 from the fetched set');
  const rotated = await sign(second.privateKey, 'k2');
  const before = await create(app.url, rotated);
  t.equal(before.status, 401);
  t.match(await before.text(), /key \(kid\) the key set does not have/);
  keys = [...keys, await jwk(second.publicKey, 'k2')];
  const fetchesBefore = fetches;
  // jose fetches the set again for an unknown kid, at most once per cooldown (5 s).
  await until(async () => (await create(app.url, rotated)).status === 201, 'k2 accepted after the rotation', 15_000, 250);
  t.ok(fetches > fetchesBefore, 'the set was fetched again');
});

t.test('query tokens when AUTH_QUERY_TOKEN=true: accepted, never logged', async (t) => {
  const app = await startAppFor(t, { AUTH_JWT_SECRET: SECRET, AUTH_QUERY_TOKEN: 'true' });
  const token = await hs256({ sub: 'linker' });
  const res = await fetch(`${app.url}/files/?access_token=${token}`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '3' } });
  t.equal(res.status, 201);
  const url = res.headers.get('location') as string;
  const put = await fetch(`${url}?access_token=${token}`, {
    method: 'PATCH',
    headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    body: 'abc',
  });
  t.equal(put.status, 204);
  const download = await fetch(`${url}?access_token=${token}`);
  t.equal(download.status, 200);
  t.equal(await download.text(), 'abc');
  const id = new URL(url).pathname.split('/').pop() as string;
  const logFile = join(logDir, `app-${process.pid}.log`);
  await until(() => readFileSync(logFile, 'utf8').includes(`${id}?access_token=[REDACTED]`), 'the GET log line');
  // The parameter's name percent-encoded: still the token (URLSearchParams decodes it), still redacted.
  const encoded = await fetch(`${url}?access%5Ftoken=${token}`);
  t.equal(encoded.status, 200);
  await until(() => readFileSync(logFile, 'utf8').includes(`${id}?access%5Ftoken=[REDACTED]`), 'the encoded GET log line');
  t.notOk(readFileSync(logFile, 'utf8').includes(token), 'the token is not in the log');
});

t.test('configuration: bad keys and tokens stop the start, naming the variable; a loud warning without auth on S3', async (t) => {
  const problems = (env: Record<string, string>) => configProblems(env).join('\n');
  t.match(problems({ AUTH_JWT_PUBLIC_KEY: 'not a key' }), /AUTH_JWT_PUBLIC_KEY: not a PEM public key/);
  t.match(problems({ AUTH_JWT_SECRET: 'short' }), /AUTH_JWT_SECRET: too short/);
  t.match(problems({ AUTH_JWT_JWKS_FILE: '/nonexistent/jwks.json' }), /AUTH_JWT_JWKS_FILE="\/nonexistent\/jwks.json": cannot read/);
  t.match(problems({ AUTH_JWT_JWKS_URL: 'ftp://x' }), /AUTH_JWT_JWKS_URL/);
  t.match(problems({ AUTH_JWT_ISSUER: 'directus' }), /set without a key to check tokens with/);
  const pasted = problems({ AUTH_STATIC_TOKENS: 'ci:supersecrettokenvalue' });
  t.match(pasted, /AUTH_STATIC_TOKENS: entry "ci:sup\.\.\." must be <name>:<SHA-256/);
  t.notMatch(pasted, /supersecrettokenvalue/, 'a pasted token is not repeated');
  const s3 = {
    STORAGE_LOCATIONS: 's3',
    STORAGE_S3_DRIVER: 's3',
    STORAGE_S3_BUCKET: 'b',
    STORAGE_S3_REGION: 'us-east-1',
  };
  t.match(parseConfig(s3).warnings.join('\n'), /AUTHENTICATION IS OFF/);
  t.notMatch(parseConfig({ ...s3, AUTH_JWT_SECRET: SECRET }).warnings.join('\n'), /AUTHENTICATION IS OFF/);
  t.notMatch(parseConfig({}).warnings.join('\n'), /AUTHENTICATION IS OFF/, 'not for the local quick start');
  t.equal(parseConfig({}).auth.enabled, false);
});
