/** Creation limits without HTTP: type patterns, metadata messages, a token's narrowing. */
import t from 'tap';
import { checkCreation, declaredTypes, narrowLimits, typeMatches } from '../../src/tus/creation-limits.js';
import { TempSpace } from '../../src/tus/temp-space.js';
import { parseUploadMetadata } from '../../src/tus/upload-metadata.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');
const base = { maxSize: 0, mimeTypes: [['*/*']], maxMetadataSize: 4096, maxMetadataKeys: 64 };

t.test('type patterns: * matches within one part, case and parameters ignored', async (t) => {
  t.ok(typeMatches('image/png', 'image/*'));
  t.ok(typeMatches('IMAGE/PNG', 'image/png'));
  t.ok(typeMatches('text/plain; charset=utf-8', 'text/plain'));
  t.ok(typeMatches('application/vnd.ms-excel', '*/*'));
  t.ok(typeMatches('application/vnd.ms-excel', 'application/vnd.*'));
  t.notOk(typeMatches('image/png', 'video/*'));
  t.notOk(typeMatches('imagepng', '*/*'), 'no slash: not a type');
  t.notOk(typeMatches('image/png/x', 'image/*'), '* does not cross /');
  t.notOk(typeMatches('image/png', 'image/pn.'), 'pattern characters are literal');
});

t.test('declared types: filetype and type, both checked; none is application/octet-stream', async (t) => {
  t.same(declaredTypes(new Map()), ['application/octet-stream']);
  t.same(declaredTypes(new Map([['filetype', 'image/png']])), ['image/png']);
  t.same(declaredTypes(new Map([['type', 'text/html']])), ['text/html']);
  t.same(
    declaredTypes(
      new Map([
        ['filetype', 'image/png'],
        ['type', 'text/html'],
      ]),
    ),
    ['image/png', 'text/html'],
  );
  t.same(
    declaredTypes(
      new Map([
        ['filetype', null],
        ['type', ''],
      ]),
    ),
    ['application/octet-stream'],
  );
});

t.test('metadata: which limit, which pair, what is wrong', async (t) => {
  const limits = { maxSize: 40, maxKeys: 2 };
  t.same(parseUploadMetadata(`a ${b64('x')},b`, limits), {
    ok: true,
    metadata: new Map([
      ['a', 'x'],
      ['b', null],
    ]),
  });
  t.match(parseUploadMetadata(`a ${b64('x'.repeat(40))}`, limits), {
    ok: false,
    problem: /is 58 bytes; at most 40 .*TUS_MAX_METADATA_SIZE/,
  });
  t.match(parseUploadMetadata('a,b,c', limits), { ok: false, problem: /has 3 keys; at most 2 .*TUS_MAX_METADATA_KEYS/ });
  const wide = { maxSize: 4096, maxKeys: 64 };
  t.match(parseUploadMetadata('a eA==, b eA==', wide), { ok: false, problem: /pair 2 \(" b eA=="\) must be "key base64value"/ });
  t.match(parseUploadMetadata('a not base64!', wide), { ok: false, problem: /pair 1 .*must be "key base64value"/ });
  t.match(parseUploadMetadata('a abc', wide), { ok: false, problem: /pair 1 .*the value must be base64/ });
  t.match(parseUploadMetadata('a eA==,a eQ==', wide), { ok: false, problem: /pair 2 .*"a" is repeated or reserved/ });
  t.match(parseUploadMetadata('constructor eA==', wide), { ok: false, problem: /"constructor" is repeated or reserved/ });
  t.match(parseUploadMetadata('ключ eA==', wide), { ok: false, problem: /the key must be ASCII/ });
  t.match(parseUploadMetadata('a eA==,', wide), { ok: false, problem: /pair 2 \(""\)/ });
});

t.test('a token narrows: the smaller size, and a type must pass both lists', async (t) => {
  const server = { ...base, maxSize: 1000, mimeTypes: [['image/*', 'application/pdf']] };
  t.equal(narrowLimits(server, undefined), server);
  t.equal(narrowLimits(server, { maxSize: 500 }).maxSize, 500);
  t.equal(narrowLimits(server, { maxSize: 5000 }).maxSize, 1000, 'a token cannot widen the server limit');
  t.equal(narrowLimits({ ...server, maxSize: 0 }, { maxSize: 5000 }).maxSize, 5000);
  const narrowed = narrowLimits(server, { contentTypes: ['image/png', 'application/pdf'] });
  const create = (type: string, length = '10') =>
    checkCreation({ 'upload-length': length, 'upload-metadata': `filetype ${b64(type)}` }, narrowed)?.status;
  t.equal(create('image/png'), undefined);
  t.equal(create('application/pdf'), undefined);
  t.equal(create('image/gif'), 415, 'the server allows it, the token does not');
  t.equal(create('text/plain'), 415, 'the token would, the server does not');
  t.equal(create('image/png', '1001'), 413);
  const refused = checkCreation({ 'upload-length': '1', 'upload-metadata': `filetype ${b64('image/gif')}` }, narrowed);
  t.match(refused?.body, /of type "image\/gif" are not allowed here; allowed: image\/png, application\/pdf/);
});

t.test('temp space: reservations up to the total, released', async (t) => {
  const space = new TempSpace(100);
  t.ok(space.reserve(60));
  t.notOk(space.reserve(41));
  t.equal(space.inUse, 60);
  t.ok(space.reserve(40));
  space.release(60);
  t.equal(space.inUse, 40);
  t.ok(new TempSpace(0).reserve(Number.MAX_SAFE_INTEGER), '0: no total');
});
