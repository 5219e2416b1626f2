/** The concatenation headers (Upload-Concat, the reserved metadata mark) and the one upload id parser. */
import { Upload } from '@tus/utils';
import t from 'tap';
import { CONCAT_KEY, clientMetadata, isFinalUpload, markPartial, parseConcatHeader, showConcat } from '../../src/tus/concatenation.js';
import { isUploadId, uploadIdOf } from '../../src/tus/upload-id.js';

const PATH = '/files';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const notUpload = (url: string) => ({ kind: 'invalid', message: `Upload-Concat: ${url} is not an upload of this location (/files/<id>)` });
const NOT_CONCAT = { kind: 'invalid', message: 'Upload-Concat must be "partial" or "final;<url> <url> ..."' };
const NO_URLS = { kind: 'invalid', message: 'Upload-Concat: final; needs the URLs of the partial uploads, separated by spaces' };

t.test('Upload-Concat: partial', async (t) => {
  t.same(parseConcatHeader('partial', PATH), { kind: 'partial' });
  t.same(parseConcatHeader('Partial', PATH), NOT_CONCAT, 'the value is case-sensitive');
  t.same(parseConcatHeader('partial;', PATH), NOT_CONCAT);
  t.same(parseConcatHeader('', PATH), NOT_CONCAT);
});

t.test('Upload-Concat: final with relative and absolute URLs of the mount path', async (t) => {
  t.same(parseConcatHeader('final;/files/abc /files/def', PATH), {
    kind: 'final',
    urls: ['/files/abc', '/files/def'],
    ids: ['abc', 'def'],
  });
  const absolute = 'final;http://localhost:1080/files/24e533e02ec3bc40c387f1a0e460e216 https://uploads.example.com/files/a_B-9/';
  t.same(parseConcatHeader(absolute, PATH), {
    kind: 'final',
    urls: ['http://localhost:1080/files/24e533e02ec3bc40c387f1a0e460e216', 'https://uploads.example.com/files/a_B-9/'],
    ids: ['24e533e02ec3bc40c387f1a0e460e216', 'a_B-9'],
  });
  t.same(
    parseConcatHeader('final;  /files/x   /files/y  ', PATH),
    { kind: 'final', urls: ['/files/x', '/files/y'], ids: ['x', 'y'] },
    'extra spaces are separators',
  );
  t.same(parseConcatHeader('final;/files/one', PATH), { kind: 'final', urls: ['/files/one'], ids: ['one'] }, 'a single partial');
  t.same(
    parseConcatHeader('final;/files/abc?x=1 /files/def#frag', PATH),
    { kind: 'final', urls: ['/files/abc?x=1', '/files/def#frag'], ids: ['abc', 'def'] },
    'the query and fragment are not part of the id',
  );
  t.same(parseConcatHeader('final;/api/v1/uploads/abc', '/api/v1/uploads'), {
    kind: 'final',
    urls: ['/api/v1/uploads/abc'],
    ids: ['abc'],
  });
  t.same(
    parseConcatHeader('final;/files/abc /files/abc', PATH),
    { kind: 'final', urls: ['/files/abc', '/files/abc'], ids: ['abc', 'abc'] },
    'the same partial twice is concatenated twice',
  );
});

t.test('percent-encoded ids are decoded', async (t) => {
  t.same(parseConcatHeader('final;/files/abc%2Ddef /files/%41bc', PATH), {
    kind: 'final',
    urls: ['/files/abc%2Ddef', '/files/%41bc'],
    ids: ['abc-def', 'Abc'],
  });
  t.equal(uploadIdOf('/files/%5F%5f', PATH), '__');
  t.equal(uploadIdOf('/files/%E0%A4%A', PATH), undefined, 'broken percent-encoding: no id');
  t.equal(uploadIdOf('/files/%C3%A9', PATH), undefined, 'decodes to é: not an id character');
});

t.test('URLs that name no upload of this location are invalid, naming the URL', async (t) => {
  for (const url of [
    '/other/abc',
    'http://localhost:1080/other/abc',
    '/filesabc',
    '/files',
    '/files/',
    '/files//abc',
    '/files/abc/def',
    '/files/..',
    '/files/../etc/passwd',
    '/files/%2E%2E',
    '/files/..%2Fetc',
    '/files/abc%2Fdef',
    '/files/abc%2fdef',
    '/files/a.b',
    '/files/a%20b',
    '/files/%00',
    `/files/${'a'.repeat(201)}`,
    '/FILES/abc',
    'http://[invalid/files/abc',
  ]) {
    t.same(parseConcatHeader(`final;/files/good ${url}`, PATH), notUpload(url), url);
  }
  t.same(parseConcatHeader('final;/files/good /files/..%2F..%2Fsecret', PATH), notUpload('/files/..%2F..%2Fsecret'));
});

t.test('empty lists and a missing "final;" are invalid', async (t) => {
  t.same(parseConcatHeader('final;', PATH), NO_URLS);
  t.same(parseConcatHeader('final;   ', PATH), NO_URLS);
  t.same(parseConcatHeader('final /files/abc', PATH), NOT_CONCAT);
  t.same(parseConcatHeader('/files/abc /files/def', PATH), NOT_CONCAT);
  t.same(parseConcatHeader('Final;/files/abc', PATH), NOT_CONCAT);
  t.same(parseConcatHeader(' final;/files/abc', PATH), NOT_CONCAT);
  t.same(parseConcatHeader('final:/files/abc', PATH), NOT_CONCAT);
});

t.test('uploadIdOf / isUploadId: one rule for ids', async (t) => {
  t.equal(isUploadId('24e533e02ec3bc40c387f1a0e460e216'), true);
  t.equal(isUploadId('My_upload-01'), true);
  t.equal(isUploadId('a'.repeat(200)), true, '200 characters');
  t.equal(isUploadId('a'.repeat(201)), false, '201 characters');
  for (const bad of ['', '.', '..', 'a/b', 'a\\b', 'a.b', 'a b', 'é', 'a\n', 'a%2F']) t.equal(isUploadId(bad), false, JSON.stringify(bad));
  t.equal(uploadIdOf('/files/abc', PATH), 'abc');
  t.equal(uploadIdOf('/files/abc/', PATH), 'abc', 'one trailing slash is allowed');
  t.equal(uploadIdOf('https://h.example/files/abc?offset=3', PATH), 'abc');
  t.equal(uploadIdOf('/files/x/../abc', PATH), 'abc', 'dot segments are resolved as a URL would be');
  t.equal(uploadIdOf('/files/abc', '/file'), undefined, 'a longer segment is not the mount path');
  t.equal(uploadIdOf('/files/abc', ''), undefined, 'mount path "": "files/abc" has a slash');
  t.equal(uploadIdOf('/abc', ''), 'abc', 'mount path "" (the root)');
});

t.test('markPartial: partial uploads are marked; the mark cannot be forged by client metadata', async (t) => {
  const post = (concat?: string) =>
    new Request('http://localhost/files', { method: 'POST', headers: concat === undefined ? {} : { 'Upload-Concat': concat } });
  const upload = (metadata?: Record<string, string | null>) => new Upload({ id: 'abc', offset: 0, size: 10, metadata });

  t.same(markPartial(post('partial'), upload({ filename: 'a.txt' })), { metadata: { filename: 'a.txt', [CONCAT_KEY]: 'partial' } });
  t.same(markPartial(post('partial'), upload()), { metadata: { [CONCAT_KEY]: 'partial' } }, 'no client metadata');
  t.same(markPartial(post(), upload({ filename: 'a.txt' })), { metadata: { filename: 'a.txt' } }, 'a plain upload: no mark');
  t.same(markPartial(post(), upload()), {}, 'nothing to change');
  t.same(
    markPartial(post(), upload({ filename: 'a.txt', [CONCAT_KEY]: 'final;/files/x /files/y' })),
    { metadata: { filename: 'a.txt' } },
    'a forged final mark is removed',
  );
  t.same(markPartial(post(), upload({ [CONCAT_KEY]: 'partial' })), { metadata: {} }, 'a forged partial mark is removed');
  t.same(
    markPartial(post('partial'), upload({ [CONCAT_KEY]: 'final;/files/x', empty: null })),
    { metadata: { empty: null, [CONCAT_KEY]: 'partial' } },
    'the real mark wins over a forged one',
  );
  t.same(markPartial(post('final;/files/x'), upload({ a: 'b' })), { metadata: { a: 'b' } }, 'final uploads are not created here');
  t.same(markPartial(post('partial;/files/x'), upload({ a: 'b' })), { metadata: { a: 'b' } }, 'only exactly "partial" marks');
});

t.test('clientMetadata drops only the reserved key', async (t) => {
  t.equal(clientMetadata(undefined), undefined);
  t.same(clientMetadata({}), {});
  t.same(clientMetadata({ filename: 'x', flag: null, [CONCAT_KEY]: 'partial' }), { filename: 'x', flag: null });
  const original = { filename: 'x', [CONCAT_KEY]: 'partial' };
  clientMetadata(original);
  t.same(original, { filename: 'x', [CONCAT_KEY]: 'partial' }, 'the input is not changed');
});

t.test('isFinalUpload: only uploads marked final', async (t) => {
  const upload = (metadata?: Record<string, string | null>) => new Upload({ id: 'abc', offset: 0, size: 10, metadata });
  t.equal(isFinalUpload(upload({ [CONCAT_KEY]: 'final;/files/a /files/b' })), true);
  t.equal(isFinalUpload(upload({ [CONCAT_KEY]: 'partial' })), false);
  t.equal(isFinalUpload(upload({ filename: 'final;x' })), false, 'another key');
  t.equal(isFinalUpload(upload({ [CONCAT_KEY]: null })), false);
  t.equal(isFinalUpload(upload()), false);
});

t.test('showConcat moves the mark from Upload-Metadata to Upload-Concat and keeps the other metadata', async (t) => {
  const headers = new Headers({
    'Upload-Metadata': `filename ${b64('a b.txt')},${CONCAT_KEY} ${b64('partial')},flag`,
    'Upload-Offset': '3',
  });
  showConcat(headers);
  t.equal(headers.get('upload-concat'), 'partial');
  t.equal(headers.get('upload-metadata'), `filename ${b64('a b.txt')},flag`, 'other keys kept, a key without value too');
  t.equal(headers.get('upload-offset'), '3');

  const final = new Headers({ 'Upload-Metadata': `${CONCAT_KEY} ${b64('final;/files/a /files/b')}` });
  showConcat(final);
  t.equal(final.get('upload-concat'), 'final;/files/a /files/b');
  t.equal(final.has('upload-metadata'), false, 'only the mark: Upload-Metadata goes');

  const plain = new Headers({ 'Upload-Metadata': `filename ${b64('x')}` });
  showConcat(plain);
  t.equal(plain.has('upload-concat'), false, 'no mark: no Upload-Concat');
  t.equal(plain.get('upload-metadata'), `filename ${b64('x')}`);

  const invalid = new Headers({ 'Upload-Metadata': `filename x!,${CONCAT_KEY} ${b64('partial')}` });
  showConcat(invalid);
  t.equal(invalid.has('upload-concat'), false, 'unparsable metadata is left alone');
  t.equal(invalid.get('upload-metadata'), `filename x!,${CONCAT_KEY} ${b64('partial')}`);

  const none = new Headers();
  showConcat(none);
  t.same([...none.keys()], []);
});
