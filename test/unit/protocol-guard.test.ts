/** The checks made before a request reaches @tus/server: each answer's status, headers and exact message. */
import t from 'tap';
import { checkTusRequest } from '../../src/tus/protocol-guard.js';

const TUS = { 'tus-resumable': '1.0.0' };
const PATCH = { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' };
const PLAIN = { 'Tus-Resumable': '1.0.0', 'Content-Type': 'text/plain; charset=utf-8' };
const SHA1_ABC = 'sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0='; // sha1("abc")

t.test('a missing Tus-Resumable is 412 with Tus-Version, on every protocol method', async (t) => {
  for (const method of ['POST', 'HEAD', 'PATCH', 'DELETE']) {
    t.same(
      checkTusRequest(method, method === 'PATCH' ? { ...PATCH, 'tus-resumable': undefined } : {}),
      {
        status: 412,
        headers: { ...PLAIN, 'Tus-Version': '1.0.0' },
        body: 'Tus-Resumable header required: send "Tus-Resumable: 1.0.0" with every tus request\n',
      },
      method,
    );
  }
});

t.test('an unsupported Tus-Resumable is 412 naming the version given and the one spoken', async (t) => {
  for (const version of ['0.2.2', '1.0', '']) {
    t.same(checkTusRequest('POST', { 'tus-resumable': version }), {
      status: 412,
      headers: { ...PLAIN, 'Tus-Version': '1.0.0' },
      body: `Tus-Resumable "${version}" is not supported; this server speaks tus 1.0.0\n`,
    });
  }
  t.equal(checkTusRequest('HEAD', { 'tus-resumable': ['1.0.0', '1.0.0'] })?.status, 412, 'a repeated header is not 1.0.0');
});

t.test('OPTIONS and GET need no Tus-Resumable', async (t) => {
  t.equal(checkTusRequest('OPTIONS', {}), undefined);
  t.equal(checkTusRequest('GET', {}), undefined);
  t.equal(checkTusRequest('GET', { 'tus-resumable': '0.2.2' }), undefined, 'a download is not part of the protocol');
});

t.test('PATCH with a missing or wrong Content-Type is 415', async (t) => {
  t.same(checkTusRequest('PATCH', { ...PATCH, 'content-type': undefined }), {
    status: 415,
    headers: PLAIN,
    body: 'PATCH needs "Content-Type: application/offset+octet-stream"\n',
  });
  t.same(checkTusRequest('PATCH', { ...PATCH, 'content-type': 'application/octet-stream' }), {
    status: 415,
    headers: PLAIN,
    body: 'PATCH needs "Content-Type: application/offset+octet-stream", not "application/octet-stream"\n',
  });
  t.equal(checkTusRequest('POST', { ...TUS, 'content-type': 'text/plain' }), undefined, 'POST bodies may have any type');
});

t.test('PATCH with a missing or invalid Upload-Offset is 400', async (t) => {
  t.same(checkTusRequest('PATCH', { ...PATCH, 'upload-offset': undefined }), {
    status: 400,
    headers: PLAIN,
    body: 'PATCH needs an Upload-Offset header: the offset the body starts at (HEAD tells the current one)\n',
  });
  for (const offset of ['-1', '1.5', 'abc', '', ' 1', '0x10', '9007199254740992']) {
    t.same(
      checkTusRequest('PATCH', { ...PATCH, 'upload-offset': offset }),
      { status: 400, headers: PLAIN, body: `Upload-Offset must be a non-negative integer, not ${JSON.stringify(offset)}\n` },
      JSON.stringify(offset),
    );
  }
  t.same(checkTusRequest('PATCH', { ...PATCH, 'upload-offset': ['0', '5'] }), {
    status: 400,
    headers: PLAIN,
    body: 'Upload-Offset must be a non-negative integer, not ["0","5"]\n',
  });
  t.equal(checkTusRequest('PATCH', { ...PATCH, 'upload-offset': '9007199254740991' }), undefined, 'the largest safe integer');
});

t.test('a bad Upload-Checksum on PATCH or POST is 400 with what is wrong', async (t) => {
  // A digest of the wrong length is well-formed: not 400 (the body answers 460).
  t.equal(checkTusRequest('PATCH', { ...PATCH, 'upload-checksum': 'sha256 qZk+NkcGgWq6PiVxeFDCbJzQ2J0=' }), undefined);
  const cases: [string, string][] = [
    ['sha1', 'Upload-Checksum must be "<algorithm> <base64 digest>", such as "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="'],
    ['sha1 not*base64', 'Upload-Checksum must be "<algorithm> <base64 digest>", such as "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="'],
    ['crc64 AAAAAAAAAAA=', 'Upload-Checksum algorithm "crc64" is not supported; supported: sha1, md5, sha256, crc32'],
  ];
  for (const method of ['PATCH', 'POST']) {
    for (const [header, message] of cases) {
      t.same(
        checkTusRequest(method, { ...PATCH, 'upload-checksum': header }),
        { status: 400, headers: PLAIN, body: `${message}\n` },
        `${method} ${header}`,
      );
    }
  }
  t.equal(checkTusRequest('PATCH', { ...PATCH, 'upload-checksum': SHA1_ABC }), undefined, 'a well-formed checksum passes');
});

t.test('valid requests pass', async (t) => {
  t.equal(checkTusRequest('PATCH', PATCH), undefined, 'PATCH');
  t.equal(checkTusRequest('PATCH', { ...PATCH, 'upload-offset': '5242880' }), undefined, 'PATCH at an offset');
  t.equal(checkTusRequest('POST', { ...TUS, 'upload-length': '10' }), undefined, 'POST');
  t.equal(checkTusRequest('HEAD', TUS), undefined, 'HEAD');
  t.equal(checkTusRequest('DELETE', TUS), undefined, 'DELETE');
});
