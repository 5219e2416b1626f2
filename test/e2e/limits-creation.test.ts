/**
 * What a creation may ask for, over HTTP on every driver (local, S3, Azure): the type (FILES_MIME_TYPE_ALLOW_LIST,
 * per location, narrowed by a token's types), the length (FILES_MAX_UPLOAD_SIZE, per location,
 * narrowed by a token's max_size), and Upload-Metadata (bytes, keys, syntax). A refused
 * creation creates nothing: no object, no file.
 */
import { readdirSync } from 'node:fs';
import { SignJWT } from 'jose';
import t from 'tap';
import { b64, createUpload, startAppFor, TUS } from '../helpers/app.js';
import { azureLocationEnv, azureTestServer, listBlobs, verifyContainer } from '../helpers/azure.js';
import { listKeys, s3LocationEnv, s3TestServer, uniqueRoot, verifyClient } from '../helpers/s3.js';
import { scratchDir } from '../helpers/scratch.js';

const server = s3TestServer();
const SECRET = 'limits-test-secret-0123456789abcdef0123456789';

interface Driver {
  name: 'local' | 's3' | 'azure';
  env(extra?: Record<string, string>): Record<string, string>;
}

/** STORAGE_LOCAL_* in `extra` names the location of the test: moved to the location named `prefix`. */
const renamedTo = (prefix: string, extra: Record<string, string>) =>
  Object.fromEntries(Object.entries(extra).map(([k, v]) => [k.replace(/^STORAGE_LOCAL_/, prefix), v]));

function drivers(): Driver[] {
  return [
    { name: 'local', env: (extra = {}) => ({ ...extra }) },
    { name: 's3', env: (extra = {}) => ({ ...s3LocationEnv(server, uniqueRoot('limits')), ...renamedTo('STORAGE_S3_', extra) }) },
    {
      name: 'azure',
      env: (extra = {}) => ({ ...azureLocationEnv(azureTestServer(), uniqueRoot('limits')), ...renamedTo('STORAGE_AZURE_', extra) }),
    },
  ];
}

/** Every object, blob or file the location holds. */
async function stored(driver: Driver, app: { root: string }, env: Record<string, string>): Promise<string[]> {
  if (driver.name === 'local') return readdirSync(app.root).sort();
  if (driver.name === 'azure') return listBlobs(verifyContainer(azureTestServer()), env.STORAGE_AZURE_ROOT as string);
  return listKeys(verifyClient(server), server.bucket, env.STORAGE_S3_ROOT as string);
}

const post = (url: string, headers: Record<string, string>) => fetch(`${url}/files/`, { method: 'POST', headers: { ...TUS, ...headers } });
const meta = (pairs: Record<string, string>) =>
  Object.entries(pairs)
    .map(([k, v]) => `${k} ${b64(v)}`)
    .join(',');

for (const driver of drivers()) {
  t.test(`${driver.name}: FILES_MIME_TYPE_ALLOW_LIST and FILES_MAX_UPLOAD_SIZE refuse before anything is created`, async (t) => {
    const env = driver.env({ FILES_MIME_TYPE_ALLOW_LIST: 'image/*,application/pdf', FILES_MAX_UPLOAD_SIZE: '1000' });
    const app = await startAppFor(t, env);

    const html = await post(app.url, { 'Upload-Length': '10', 'Upload-Metadata': meta({ filename: 'a.html', filetype: 'text/html' }) });
    t.equal(html.status, 415);
    t.equal(html.headers.get('content-type'), 'text/plain; charset=utf-8');
    t.equal(
      await html.text(),
      'Uploads of type "text/html" are not allowed here; allowed: image/*, application/pdf (the type is the filetype or type metadata, application/octet-stream when absent); nothing was created\n',
    );
    t.equal(html.headers.get('location'), null);
    const untyped = await post(app.url, { 'Upload-Length': '10', 'Upload-Metadata': meta({ filename: 'a.bin' }) });
    t.equal(untyped.status, 415, 'no type: application/octet-stream');
    t.match(await untyped.text(), /of type "application\/octet-stream" are not allowed/);
    t.equal((await post(app.url, { 'Upload-Length': '10' })).status, 415, 'no metadata at all: application/octet-stream');
    const sneaky = await post(app.url, { 'Upload-Length': '10', 'Upload-Metadata': meta({ filetype: 'image/png', type: 'text/html' }) });
    t.equal(sneaky.status, 415, 'type (Uppy, Directus) is checked as well as filetype');
    const byType = await post(app.url, { 'Upload-Length': '10', 'Upload-Metadata': meta({ type: 'application/x-msdownload' }) });
    t.equal(byType.status, 415, 'type alone');
    const byContentType = await post(app.url, {
      'Upload-Length': '10',
      'Upload-Metadata': meta({ type: 'image/png', contentType: 'text/html' }),
    });
    t.equal(byContentType.status, 415, 'contentType (which downloads serve) is checked too');
    const tooLarge = await post(app.url, { 'Upload-Length': '1001', 'Upload-Metadata': meta({ filetype: 'image/png' }) });
    t.equal(tooLarge.status, 413);
    t.equal(await tooLarge.text(), 'Upload-Length 1001 is larger than the largest upload allowed here (1000 bytes); nothing was created\n');
    const withBody = await fetch(`${app.url}/files/`, {
      method: 'POST',
      headers: {
        ...TUS,
        'Upload-Length': '5',
        'Content-Type': 'application/offset+octet-stream',
        'Upload-Metadata': meta({ filetype: 'text/html' }),
      },
      body: '<b>x',
    });
    t.equal(withBody.status, 415, 'creation-with-upload: refused before the body is read');
    t.same(await stored(driver, app, env), [], 'nothing was created');

    const png = await createUpload(app.url, 1000, { 'Upload-Metadata': meta({ filename: 'a.png', filetype: 'IMAGE/PNG' }) });
    t.ok(png, 'an allowed type (any case) at the largest size');
    const pdf = await post(app.url, { 'Upload-Length': '3', 'Upload-Metadata': meta({ type: 'application/pdf; charset=binary' }) });
    t.equal(pdf.status, 201, 'parameters do not count');
  });

  t.test(`${driver.name}: concatenation: untyped partials pass, the final upload's type is checked`, async (t) => {
    const env = driver.env({ FILES_MIME_TYPE_ALLOW_LIST: 'image/*' });
    const app = await startAppFor(t, env);
    const partial = await createUpload(app.url, 3, { 'Upload-Concat': 'partial' });
    const typedPartial = await post(app.url, {
      'Upload-Length': '3',
      'Upload-Concat': 'partial',
      'Upload-Metadata': meta({ filetype: 'text/html' }),
    });
    t.equal(typedPartial.status, 415, 'a partial that declares a type is checked');
    const patched = await fetch(partial, {
      method: 'PATCH',
      headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      body: 'abc',
    });
    t.equal(patched.status, 204);
    const keysBefore = await stored(driver, app, env);
    const html = await post(app.url, { 'Upload-Concat': `final;${partial}`, 'Upload-Metadata': meta({ filetype: 'text/html' }) });
    t.equal(html.status, 415);
    t.match(await html.text(), /of type "text\/html" are not allowed here; allowed: image\/\*/);
    t.same(await stored(driver, app, env), keysBefore, 'no final upload was created');
    const png = await post(app.url, { 'Upload-Concat': `final;${partial}`, 'Upload-Metadata': meta({ filetype: 'image/png' }) });
    t.equal(png.status, 201);
  });

  t.test(`${driver.name}: Upload-Metadata: bytes, keys and syntax, each saying which`, async (t) => {
    const env = driver.env({ TUS_MAX_METADATA_SIZE: '100', TUS_MAX_METADATA_KEYS: '3' });
    const app = await startAppFor(t, env);
    const big = await post(app.url, { 'Upload-Length': '1', 'Upload-Metadata': meta({ filename: 'x'.repeat(80) }) });
    t.equal(big.status, 400);
    t.equal(
      await big.text(),
      'Upload-Metadata is 117 bytes; at most 100 are accepted (TUS_MAX_METADATA_SIZE): send less metadata; nothing was created\n',
    );
    const many = await post(app.url, { 'Upload-Length': '1', 'Upload-Metadata': 'a,b,c,d' });
    t.equal(many.status, 400);
    t.equal(
      await many.text(),
      'Upload-Metadata has 4 keys; at most 3 are accepted (TUS_MAX_METADATA_KEYS): send fewer; nothing was created\n',
    );
    const spaced = await post(app.url, { 'Upload-Length': '1', 'Upload-Metadata': `a ${b64('x')}, b ${b64('y')}` });
    t.equal(spaced.status, 400);
    t.match(await spaced.text(), /^Upload-Metadata pair 2 \(" b eQ=="\) must be "key base64value" or "key"/);
    const notBase64 = await post(app.url, { 'Upload-Length': '1', 'Upload-Metadata': 'filename abc' });
    t.equal(notBase64.status, 400);
    t.match(await notBase64.text(), /^Upload-Metadata pair 1 \("filename abc"\): the value must be base64/);
    const final = await post(app.url, { 'Upload-Concat': 'final;/files/x', 'Upload-Metadata': 'a,b,c,d' });
    t.equal(final.status, 400, 'a final upload too');
    t.match(await final.text(), /has 4 keys/);
    t.same(await stored(driver, app, env), [], 'nothing was created');
    t.equal((await post(app.url, { 'Upload-Length': '1', 'Upload-Metadata': `a ${b64('x')},b,c` })).status, 201, 'within both limits');
  });
}

t.test('local: STORAGE_<LOC>_MAX_UPLOAD_SIZE and _MIME_TYPE_ALLOW_LIST replace the server limits for their location', async (t) => {
  const app = await startAppFor(t, {
    STORAGE_LOCATIONS: 'local,docs',
    STORAGE_LOCAL_DRIVER: 'local',
    STORAGE_DOCS_DRIVER: 'local',
    STORAGE_DOCS_ROOT: scratchDir(t, 'tus-docs-'),
    STORAGE_DOCS_MAX_UPLOAD_SIZE: '100',
    STORAGE_DOCS_MIME_TYPE_ALLOW_LIST: 'application/pdf',
    FILES_MAX_UPLOAD_SIZE: '1000',
  });
  const pdf = { 'Upload-Metadata': meta({ filetype: 'application/pdf' }) };
  const png = { 'Upload-Metadata': meta({ filetype: 'image/png' }) };
  const at = (path: string, length: number, headers: Record<string, string>) =>
    fetch(`${app.url}${path}`, { method: 'POST', headers: { ...TUS, 'Upload-Length': String(length), ...headers } });
  t.equal((await at('/files/', 500, png)).status, 201, 'the default location: the server limits');
  t.equal((await at('/files/local/', 1000, png)).status, 201);
  t.equal((await at('/files/local/', 1001, png)).status, 413);
  t.equal((await at('/files/docs/', 100, pdf)).status, 201);
  const large = await at('/files/docs/', 101, pdf);
  t.equal(large.status, 413, 'the location is smaller');
  t.match(await large.text(), /largest upload allowed here \(100 bytes\)/);
  const image = await at('/files/docs/', 10, png);
  t.equal(image.status, 415, 'the location allows only PDFs');
  t.match(await image.text(), /allowed: application\/pdf/);
  const options = await fetch(`${app.url}/files/docs/`, { method: 'OPTIONS' });
  t.equal(options.headers.get('tus-max-size'), '100', 'Tus-Max-Size is the location limit');
});

t.test('a token narrows the limits: types it allows and the server allows, the smaller size', async (t) => {
  const env = { FILES_MIME_TYPE_ALLOW_LIST: 'image/*,application/pdf', FILES_MAX_UPLOAD_SIZE: '1000', AUTH_JWT_SECRET: SECRET };
  const app = await startAppFor(t, env);
  const token = await new SignJWT({ tus: { types: ['image/png', 'text/plain'], max_size: 100 } })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('user-1')
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET));
  const auth = { Authorization: `Bearer ${token}` };
  const create = (length: number, type: string) =>
    post(app.url, { ...auth, 'Upload-Length': String(length), 'Upload-Metadata': meta({ filetype: type }) });
  t.equal((await create(100, 'image/png')).status, 201);
  const gif = await create(10, 'image/gif');
  t.equal(gif.status, 415, 'the server allows image/gif, the token does not');
  t.match(await gif.text(), /"image\/gif" are not allowed here; allowed: image\/png, text\/plain/);
  const text = await create(10, 'text/plain');
  t.equal(text.status, 415, 'the token allows text/plain, the server does not');
  t.match(await text.text(), /allowed: image\/\*, application\/pdf/);
  const large = await create(101, 'image/png');
  t.equal(large.status, 413, "the token's max_size is below the server's");
  t.match(await large.text(), /largest upload allowed here \(100 bytes\)/);
  t.same(readdirSync(app.root).filter((f) => !f.endsWith('.json')).length, 1, 'only the allowed upload exists');
});
