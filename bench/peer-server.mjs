// The peer: @tus/server with @tus/s3-store on plain node:http, default options but the S3
// client settings every S3-compatible server needs. Started by bench/run.mjs.
import http from 'node:http';
import { S3Store } from '@tus/s3-store';
import { Server } from '@tus/server';

const env = process.env;
const server = new Server({
  path: '/files',
  datastore: new S3Store({
    s3ClientConfig: {
      bucket: env.S3_BUCKET,
      region: env.S3_REGION,
      endpoint: env.S3_ENDPOINT,
      forcePathStyle: true,
      credentials: { accessKeyId: env.S3_KEY, secretAccessKey: env.S3_SECRET },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    },
  }),
});
http.createServer((req, res) => server.handle(req, res)).listen(Number(env.PORT), '127.0.0.1');
