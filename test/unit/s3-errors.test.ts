/** S3 failures turned into answers: the status, the exact message naming what to check, and the not-found tests. */
import t from 'tap';
import { explainS3Error, isNoSuchUpload, isNotFound } from '../../src/stores/s3/errors.js';

const where = { location: 'media', bucket: 'uploads-b', operation: 'UploadPart', key: 'abc.info' };
const s3 = (code: string, status?: number) =>
  Object.assign(new Error(`${code} message`), { name: code, Code: code, $metadata: { httpStatusCode: status } });
const refused = (code: string, status: number) =>
  `Storage location "media": S3 refused UploadPart on bucket "uploads-b" key "abc.info" (${code}, HTTP ${status}).`;

t.test('AccessDenied names the IAM permissions, the bucket policy and STORAGE_<LOC>_ACL', async (t) => {
  for (const code of ['AccessDenied', 'AllAccessDisabled', 'Forbidden']) {
    const e = explainS3Error(s3(code, 403), where);
    t.equal(e.status_code, 502, code);
    t.equal(e.cause, code);
    t.equal(
      e.body,
      `${refused(code, 403)} S3 denied UploadPart: grant s3:PutObject on arn:aws:s3:::uploads-b/* in the IAM permissions of the credentials or the bucket policy (the minimal IAM policy in docs/s3.md lists every action the server uses), and check that STORAGE_MEDIA_ACL is allowed by the bucket's Object Ownership setting.\n`,
    );
  }
  const named = (operation: string, root?: string) =>
    explainS3Error(s3('AccessDenied', 403), { location: 'media', bucket: 'b', operation, ...(root ? { root } : {}) }).body;
  t.match(named('PutObject', 'tus/'), /S3 denied PutObject: grant s3:PutObject on arn:aws:s3:::b\/tus\/\* in/, 'names the root');
  t.match(named('GetObject'), /S3 denied GetObject: grant s3:GetObject on arn:aws:s3:::b\/\* in/);
  t.match(named('HeadObject'), /S3 denied HeadObject: grant s3:GetObject on arn:aws:s3:::b\/\* in/);
  t.match(named('DeleteObject'), /S3 denied DeleteObject: grant s3:DeleteObject on/);
  t.match(named('AbortMultipartUpload'), /S3 denied AbortMultipartUpload: grant s3:AbortMultipartUpload on/);
  t.match(named('ListParts'), /S3 denied ListParts: grant s3:ListMultipartUploadParts on arn:aws:s3:::b\/\* in/);
  t.match(named('UploadPartCopy'), /S3 denied UploadPartCopy: grant s3:PutObject and s3:GetObject on/);
  t.match(
    named('ListObjectsV2', 'tus/'),
    /S3 denied ListObjectsV2: grant s3:ListBucket on arn:aws:s3:::b in/,
    'a bucket action names the bucket',
  );
  t.match(named('ListMultipartUploads'), /grant s3:ListBucketMultipartUploads on arn:aws:s3:::b in/);
  t.match(named('SomethingNew'), /S3 denied SomethingNew: grant the matching s3: action on arn:aws:s3:::b and its objects in/);
  const e = explainS3Error(s3('AccessDenied', 403), { location: 'eu-archive', bucket: 'b', operation: 'PutObject' });
  t.match(e.body, /^Storage location "eu-archive": S3 refused PutObject on bucket "b" \(AccessDenied, HTTP 403\)\./, 'no key: none named');
  t.match(e.body, /STORAGE_EU-ARCHIVE_ACL/, 'the variable prefix is the location name in capitals');
});

t.test('wrong credentials name STORAGE_<LOC>_KEY and _SECRET', async (t) => {
  for (const code of ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken']) {
    const e = explainS3Error(s3(code, 403), where);
    t.equal(e.status_code, 502);
    t.equal(
      e.body,
      `${refused(code, 403)} Check the credentials: STORAGE_MEDIA_KEY and STORAGE_MEDIA_SECRET (or the default AWS credential chain when they are unset).\n`,
      code,
    );
  }
});

t.test('NoSuchBucket names BUCKET, ENDPOINT and REGION', async (t) => {
  const e = explainS3Error(s3('NoSuchBucket', 404), where);
  t.equal(e.status_code, 502);
  t.equal(e.cause, 'NoSuchBucket');
  t.equal(
    e.body,
    `${refused('NoSuchBucket', 404)} The bucket does not exist: check STORAGE_MEDIA_BUCKET, STORAGE_MEDIA_ENDPOINT and STORAGE_MEDIA_REGION. The server never creates buckets.\n`,
  );
});

t.test('network errors are 503 naming ENDPOINT and the timeouts', async (t) => {
  const errors: [string, unknown][] = [
    ['ECONNREFUSED', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' })],
    ['ENOTFOUND', Object.assign(new Error('getaddrinfo ENOTFOUND s3.invalid'), { code: 'ENOTFOUND' })],
    ['ECONNRESET', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['TimeoutError', Object.assign(new Error('timed out'), { name: 'TimeoutError' })],
  ];
  for (const [code, error] of errors) {
    const e = explainS3Error(error, where);
    t.equal(e.status_code, 503, code);
    t.equal(e.cause, code);
    t.equal(
      e.body,
      `Storage location "media": S3 did not answer UploadPart on bucket "uploads-b" key "abc.info" (${code}). Check STORAGE_MEDIA_ENDPOINT, DNS and the network, and STORAGE_MEDIA_CONNECTION_TIMEOUT / STORAGE_MEDIA_SOCKET_TIMEOUT / STORAGE_MEDIA_REQUEST_TIMEOUT; the upload can be resumed.\n`,
    );
  }
});

t.test('5xx after retries is 503: the upload can be resumed', async (t) => {
  for (const [code, status] of [
    ['SlowDown', 503],
    ['InternalError', 500],
    ['ServiceUnavailable', 503],
  ] as const) {
    const e = explainS3Error(s3(code, status), where);
    t.equal(e.status_code, 503, code);
    t.equal(e.body, `${refused(code, status)} The S3 service failed after retries; the upload can be resumed.\n`);
  }
});

t.test('other refusals are 502 pointing at the settings; unknown errors without a status are 500', async (t) => {
  const other = explainS3Error(s3('MalformedXML', 400), where);
  t.equal(other.status_code, 502);
  t.equal(
    other.body,
    `${refused('MalformedXML', 400)} Check the location's settings (STORAGE_MEDIA_*) and the provider's documentation for this error.\n`,
  );
  const small = explainS3Error(s3('EntityTooSmall', 400), where);
  t.equal(small.status_code, 502);
  t.match(small.body, /raise STORAGE_MEDIA_TUS__CHUNK_SIZE or set STORAGE_MEDIA_EQUAL_PART_SIZE=true\.\n$/);
  const region = explainS3Error(s3('PermanentRedirect', 301), where);
  t.equal(
    region.body,
    `${refused('PermanentRedirect', 301)} The bucket is in another region: check STORAGE_MEDIA_REGION (and STORAGE_MEDIA_ENDPOINT).\n`,
  );

  const unknown = explainS3Error(new TypeError('Cannot read properties of undefined'), where);
  t.equal(unknown.status_code, 500);
  t.equal(unknown.cause, 'TypeError');
  t.equal(
    unknown.body,
    'Storage location "media": unexpected error during UploadPart on bucket "uploads-b" key "abc.info": Cannot read properties of undefined. See the server log.\n',
  );
  const nothing = explainS3Error(undefined, where);
  t.equal(nothing.status_code, 500);
  t.equal(nothing.cause, 'UnknownError');
  t.equal(
    nothing.body,
    'Storage location "media": unexpected error during UploadPart on bucket "uploads-b" key "abc.info": UnknownError. See the server log.\n',
  );
});

t.test('isNoSuchUpload: NoSuchUpload, and radosgw’s NoSuchKey for the same thing', async (t) => {
  t.equal(isNoSuchUpload(s3('NoSuchUpload', 404)), true);
  t.equal(isNoSuchUpload(s3('NoSuchKey', 404)), true, 'radosgw answers NoSuchKey where AWS answers NoSuchUpload');
  t.equal(isNoSuchUpload(s3('NoSuchBucket', 404)), false);
  t.equal(isNoSuchUpload(s3('AccessDenied', 403)), false);
  t.equal(isNoSuchUpload(s3('NotFound', 404)), false, 'a HEAD 404 is not a missing multipart upload');
  t.equal(isNoSuchUpload(new Error('boom')), false);
  t.equal(isNoSuchUpload(undefined), false);
});

t.test('isNotFound: missing objects and uploads, never a missing bucket', async (t) => {
  for (const code of ['NoSuchKey', 'NotFound', 'NoSuchUpload']) t.equal(isNotFound(s3(code, 404)), true, code);
  t.equal(isNotFound({ name: 'UnknownError', $metadata: { httpStatusCode: 404 } }), true, 'any other 404 (HEAD has no body to name it)');
  t.equal(isNotFound(s3('NoSuchBucket', 404)), false, 'a missing bucket is a configuration error');
  t.equal(isNotFound(s3('AccessDenied', 403)), false);
  t.equal(isNotFound(s3('InternalError', 500)), false);
  t.equal(isNotFound(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), false);
  t.equal(isNotFound(undefined), false);
});
