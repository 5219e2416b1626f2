#!/usr/bin/env node
// Create the test bucket on S3_TEST_ENDPOINT if it does not exist yet.
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';

const env = process.env;
const client = new S3Client({
  endpoint: env.S3_TEST_ENDPOINT,
  region: env.S3_TEST_REGION ?? 'us-east-1',
  forcePathStyle: env.S3_TEST_FORCE_PATH_STYLE !== 'false',
  credentials: { accessKeyId: env.S3_TEST_KEY, secretAccessKey: env.S3_TEST_SECRET },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
const Bucket = env.S3_TEST_BUCKET;
try {
  await client.send(new HeadBucketCommand({ Bucket }));
} catch {
  await client.send(new CreateBucketCommand({ Bucket }));
  console.error(`created bucket ${Bucket} at ${env.S3_TEST_ENDPOINT}`);
}
