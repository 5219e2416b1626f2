import t from 'tap';
import { startApp, TUS } from '../helpers/app.js';
import { freePort } from '../helpers/process.js';
import { s3LocationEnv, s3TestServer, uniqueRoot } from '../helpers/s3.js';

const server = s3TestServer();

async function createStatus(env: Record<string, string>): Promise<{ status: number; body: string }> {
  const app = await startApp(env);
  try {
    const res = await fetch(`${app.url}/files/`, { method: 'POST', headers: { ...TUS, 'Upload-Length': '10' } });
    return { status: res.status, body: await res.text() };
  } finally {
    await app.close();
  }
}

t.test('S3 failures answer with what to check, never a bare 500 with a stack', async (t) => {
  const root = uniqueRoot('errors');
  const cases: Array<[string, Record<string, string>, number, RegExp]> = [
    [
      'wrong secret',
      { STORAGE_S3_SECRET: 'not-the-secret' },
      502,
      /SignatureDoesNotMatch.*check the credentials: STORAGE_S3_KEY and STORAGE_S3_SECRET/i,
    ],
    [
      'unknown access key',
      { STORAGE_S3_KEY: 'nobody:none' },
      502,
      /(InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied).*(credentials|IAM permissions)/,
    ],
    [
      'missing bucket',
      { STORAGE_S3_BUCKET: 'no-such-bucket-here' },
      502,
      /NoSuchBucket.*bucket does not exist: check STORAGE_S3_BUCKET, STORAGE_S3_ENDPOINT and STORAGE_S3_REGION/,
    ],
    [
      'access denied',
      // A user granted nothing on the bucket (Swift's tempauth reader, or the one scripts/ceph-server.sh creates).
      {
        STORAGE_S3_KEY: process.env.S3_TEST_READER_KEY ?? 'test:reader',
        STORAGE_S3_SECRET: process.env.S3_TEST_READER_SECRET ?? 'tus-s3-reader-secret-93b7d4e1',
      },
      502,
      /AccessDenied.*S3 denied PutObject: grant s3:PutObject on arn:aws:s3:::[^ ]+\/t-errors-[0-9a-f]+\/\* in the IAM permissions.*bucket policy/,
    ],
  ];
  for (const [name, extra, status, pattern] of cases) {
    const res = await createStatus(s3LocationEnv(server, root, extra));
    t.equal(res.status, status, `${name}: status`);
    t.match(res.body, pattern, `${name}: ${res.body.trim()}`);
    t.notMatch(res.body, /\n\s+at /, 'no stack trace');
  }
  const port = await freePort();
  const unreachable = await createStatus(
    s3LocationEnv(server, root, {
      STORAGE_S3_ENDPOINT: `http://127.0.0.1:${port}`,
      STORAGE_S3_MAX_ATTEMPTS: '1',
      STORAGE_S3_CONNECTION_TIMEOUT: '1s',
    }),
  );
  t.equal(unreachable.status, 503, 'unreachable endpoint: 503');
  t.match(unreachable.body, /S3 did not answer PutObject .*\(ECONNREFUSED\)\. Check STORAGE_S3_ENDPOINT/);
  t.match(unreachable.body, /nothing was created, send the POST again/, 'a failed creation does not say the upload can be resumed');
  t.notMatch(unreachable.body, /can be resumed/);
});
