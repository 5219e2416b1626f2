/** Object key templates (src/stores/key-template.ts): the parser's refusals and the keys it makes. */
import t from 'tap';
import {
  ANONYMOUS,
  type KeyFacts,
  type KeyTemplate,
  MAX_KEY_BYTES,
  MAX_SEGMENT_BYTES,
  MAX_VALUE_BYTES,
  MISSING,
  objectKey,
  parseKeyTemplate,
} from '../../src/stores/key-template.js';

function template(text: string): KeyTemplate {
  const parsed = parseKeyTemplate(text);
  if ('problem' in parsed) throw new Error(`${text}: ${parsed.problem}`);
  return parsed;
}

function problem(text: string): string {
  const parsed = parseKeyTemplate(text);
  return 'problem' in parsed ? parsed.problem : 'accepted';
}

const facts: KeyFacts = {
  id: 'f00d',
  subject: 'alice',
  createdAt: '2026-03-07T23:59:59.999Z',
  metadata: { filename: 'photo.jpg', empty: '', none: null },
};
const key = (text: string, more: Partial<KeyFacts> = {}) => objectKey(template(text), { ...facts, ...more });

t.test('every placeholder, the date in UTC and zero-padded', async (t) => {
  t.equal(key('uploads/{subject}/{year}/{month}/{day}/{id}/{metadata.filename}'), 'uploads/alice/2026/03/07/f00d/photo.jpg');
  t.equal(key('{id}'), 'f00d');
  t.equal(key('{year}-{month}-{day}/{id}', { createdAt: '2026-12-31T23:30:00-02:00' }), '2027-01-01/f00d', 'UTC, not the offset given');
  t.equal(key('{year}/{id}', { createdAt: new Date('0999-01-02T00:00:00Z') }), '0999/f00d', 'years padded to four digits');
  t.equal(key('a-{id}.bin'), 'a-f00d.bin', 'literal text beside {id}');
  const longest = 'i'.repeat(200);
  t.equal(key('{id}/{metadata.filename}', { id: longest }), `${longest}/photo.jpg`, 'an id is never cut (it makes the key unique)');
});

t.test('a missing subject is "anonymous"; missing, null or empty metadata is "_"', async (t) => {
  t.equal(ANONYMOUS, 'anonymous');
  t.equal(key('{subject}/{id}', { subject: undefined }), 'anonymous/f00d');
  t.equal(key('{id}/{metadata.absent}'), `f00d/${MISSING}`);
  t.equal(key('{id}/{metadata.empty}'), 'f00d/_');
  t.equal(key('{id}/{metadata.none}'), 'f00d/_');
  t.equal(key('{id}/{metadata.filename}', { metadata: undefined }), 'f00d/_');
  t.equal(key('{id}/{subject}', { subject: '' }), 'f00d/_');
});

t.test('unsafe values: no new segments, no dot segments, no control characters', async (t) => {
  const named = (filename: string) => key('{id}/{metadata.filename}', { metadata: { filename } });
  t.equal(named('../../etc/passwd'), 'f00d/..%2F..%2Fetc%2Fpasswd', 'a "/" is %2F: the value stays one segment');
  t.equal(named('..'), 'f00d/%2E%2E', 'a value that makes a ".." segment');
  t.equal(named('.'), 'f00d/%2E');
  t.equal(key('{id}/.{metadata.filename}', { metadata: { filename: '.' } }), 'f00d/%2E%2E', 'also with literal dots around it');
  t.equal(named('/leading/and/trailing/'), 'f00d/%2Fleading%2Fand%2Ftrailing%2F');
  t.equal(named('line\nbreak\ttab\u0000nul\u007fdel\u0085nel'), 'f00d/line%0Abreak%09tab%00nul%7Fdel%C2%85nel');
  t.equal(named('100% sure?#&'), 'f00d/100%25%20sure%3F%23%26', 'space, %, ?, # and & encoded');
  t.equal(named("ok!_-.*'()"), "f00d/ok!_-.*'()", "AWS's safe characters kept");
  t.equal(key('{subject}/{id}', { subject: '.tus-hooks' }), '%2Etus-hooks/f00d', "a key's leading dot (the server's own names)");
  t.equal(key('{subject}/{id}', { subject: 'token:ci' }), 'token%3Aci/f00d');
});

t.test('unicode: letters of any script kept (NFC), the rest encoded as UTF-8', async (t) => {
  const named = (filename: string) => key('{id}/{metadata.filename}', { metadata: { filename } });
  t.equal(named('Fotó.jpg'), 'f00d/Fotó.jpg');
  t.equal(named('Foto\u0301.jpg'), 'f00d/Fotó.jpg', 'decomposed input normalised to NFC');
  t.equal(named('写真.png'), 'f00d/写真.png');
  t.equal(named('😀.txt'), 'f00d/%F0%9F%98%80.txt', 'an emoji is no letter: encoded');
  t.equal(named('a\u202Eb'), 'f00d/a%E2%80%AEb', 'a bidirectional override is encoded');
  t.equal(named('a\u2028b'), 'f00d/a%E2%80%A8b', 'a line separator is encoded');
});

t.test('a long value is cut between characters, keeping its start and its end', async (t) => {
  const long = `${'x'.repeat(300)}.pdf`;
  const value = key('{id}/{metadata.filename}', { metadata: { filename: long } }).slice('f00d/'.length);
  t.ok(Buffer.byteLength(value) <= MAX_VALUE_BYTES);
  t.match(value, /^x{80}_x+\.pdf$/, 'the extension survives');
  const wide = key('{id}/{metadata.filename}', { metadata: { filename: `${'é'.repeat(200)}.txt` } }).slice(5);
  t.ok(Buffer.byteLength(wide) <= MAX_VALUE_BYTES);
  t.ok(Buffer.from(wide).toString('utf8') === wide && !wide.includes('\uFFFD'), 'no character cut in half');
  const encoded = key('{id}/{metadata.filename}', { metadata: { filename: '\n'.repeat(200) } }).slice(5);
  t.match(encoded, /^(%0A){26}_(%0A){13}$/, 'no escape cut in half');
});

t.test('refusals name the problem', async (t) => {
  t.match(problem('uploads/{year}/{metadata.filename}'), /no \{id\}/);
  t.match(problem('{id}{metadata.filename}'), /\{id\} must not share its segment/);
  t.match(problem('x/{subject}-{id}'), /\{id\} must not share its segment/);
  t.match(problem('{id}/{user}'), /unknown placeholder \{user\}/);
  t.match(problem('{id}/{metadata}'), /unknown placeholder \{metadata\}/);
  t.match(problem('{id}/{Year}'), /unknown placeholder \{Year\}/);
  t.match(problem('{id}/{metadata.}'), /metadata key/);
  t.match(problem('{id}/{metadata.a b}'), /metadata key/);
  t.match(problem('{id}/{metadata.tus-owner}'), /tus- are the server's own/);
  t.match(problem('{id}/{year'), /"\{" without its "\}"/);
  t.match(problem('{id}/{{year}}'), /"\{" without its "\}"/);
  t.match(problem('{id}/year}'), /"\}" without its "\{"/);
  t.match(problem('/{id}'), /no "\/" at its start or end/);
  t.match(problem('{id}/'), /no "\/" at its start or end/);
  t.match(problem('a//{id}'), /empty segment/);
  t.match(problem('a/../{id}'), /"\." or "\.\."/);
  t.match(problem('.tus-hooks/{id}'), /beginning with "\."/);
  t.match(problem('up loads/{id}'), /letters, digits/);
  t.match(problem('uploads\\{id}'), /letters, digits/);
  t.match(problem('{id}.info'), /must not end with \.info/);
  t.match(problem('x{id}.part'), /must not end with/);
  t.match(problem('{id}.json'), /must not end with/);
  t.equal(problem('{id}/x.json'), 'accepted', 'below the root the state names cannot be reached');
  t.match(problem('{id}/{metadata.a}{metadata.b}{metadata.c}'), new RegExp(`above the ${MAX_SEGMENT_BYTES} of a file name`));
  t.match(problem(`{id}/${'a/'.repeat(520)}x`), new RegExp(`above the ${MAX_KEY_BYTES} of an S3 key`));
});

t.test('no two uploads share a key, whatever their values', async (t) => {
  const tpl = 'uploads/{subject}/{metadata.a}/{id}/{metadata.b}';
  const values = ['', 'x', 'x/y', 'x%2Fy', '..', '/', 'a'.repeat(500), 'é', 'e\u0301'];
  const keys = new Map<string, string>();
  for (const [n, id] of ['f00d', 'f00e', 'f00d-1'].entries()) {
    for (const a of values) {
      const made = key(tpl, { id, subject: values[n], metadata: { a, b: a } });
      const other = keys.get(made);
      t.ok(other === undefined || other === id, `${made} only for ${id}`);
      keys.set(made, id);
      t.equal(made.split('/').length, 5, 'as many segments as the template');
      t.ok(Buffer.byteLength(made) <= MAX_KEY_BYTES);
    }
  }
});
