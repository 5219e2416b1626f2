/** STORAGE_<LOC>_KEY_TEMPLATE: read for every driver, and a template that could make unsafe or shared keys refuses the start, naming the variable. */
import t from 'tap';
import { parseConfig } from '../../src/config/index.js';
import { objectKey } from '../../src/stores/key-template.js';
import { configProblems as problems } from '../helpers/config.js';

const s3 = { STORAGE_LOCATIONS: 's3', STORAGE_S3_DRIVER: 's3', STORAGE_S3_BUCKET: 'uploads', STORAGE_S3_REGION: 'eu-west-1' };

t.test('unset (or empty): no template, the object at <root><id>', async (t) => {
  t.equal(parseConfig({}).locations[0]?.keyTemplate, undefined);
  t.equal(parseConfig({ STORAGE_LOCAL_KEY_TEMPLATE: ' ' }).locations[0]?.keyTemplate, undefined);
  t.same(parseConfig({ STORAGE_LOCAL_KEY_TEMPLATE: '{id}' }).warnings, [], 'a known suffix');
});

t.test('read for the local and the s3 driver', async (t) => {
  const local = parseConfig({ STORAGE_LOCAL_KEY_TEMPLATE: ' {subject}/{id} ' }).locations[0]?.keyTemplate;
  t.ok(local, 'local');
  if (local) t.equal(objectKey(local, { id: 'x1', subject: 'bo', createdAt: new Date(), metadata: {} }), 'bo/x1');
  const template = parseConfig({ ...s3, STORAGE_S3_KEY_TEMPLATE: 'uploads/{year}/{id}/{metadata.filename}' }).locations[0]?.keyTemplate;
  t.equal(template?.text, 'uploads/{year}/{id}/{metadata.filename}', 's3');
});

t.test('refusals name the variable and what to fix', async (t) => {
  t.match(problems({ STORAGE_LOCAL_KEY_TEMPLATE: 'uploads/{metadata.filename}' }), [
    /^STORAGE_LOCAL_KEY_TEMPLATE="uploads\/\{metadata.filename\}": the template has no \{id\}/,
  ]);
  t.match(problems({ ...s3, STORAGE_S3_KEY_TEMPLATE: 'uploads/{user}/{id}' }), [
    /^STORAGE_S3_KEY_TEMPLATE="uploads\/\{user\}\/\{id\}": unknown placeholder \{user\}/,
  ]);
  t.match(problems({ ...s3, STORAGE_S3_KEY_TEMPLATE: 'uploads/{id' }), [/^STORAGE_S3_KEY_TEMPLATE=.*"\{" without its "\}"/]);
  t.match(problems({ ...s3, STORAGE_S3_KEY_TEMPLATE: 'uploads/id}' }), [/^STORAGE_S3_KEY_TEMPLATE=.*"\}" without its "\{"/]);
  t.match(problems({ STORAGE_LOCAL_KEY_TEMPLATE: '{id}-{metadata.filename}' }), [
    /^STORAGE_LOCAL_KEY_TEMPLATE=.*must not share its segment/,
  ]);
  t.match(problems({ STORAGE_LOCAL_KEY_TEMPLATE: '../{id}' }), [/^STORAGE_LOCAL_KEY_TEMPLATE=.*"\." or "\.\."/]);
  t.match(problems({ STORAGE_LOCAL_KEY_TEMPLATE: '/{id}' }), [/^STORAGE_LOCAL_KEY_TEMPLATE=.*no "\/" at its start or end/]);
  // 200 (id) + 1 + 120 (a value) fit alone; not under a root of 800 bytes.
  const long = { ...s3, STORAGE_S3_KEY_TEMPLATE: '{id}/{metadata.filename}' };
  t.same(problems({ ...long, STORAGE_S3_ROOT: 'r'.repeat(700) }), [], 'a long root that leaves room');
  t.match(problems({ ...long, STORAGE_S3_ROOT: 'r'.repeat(800) }), [
    /^STORAGE_S3_KEY_TEMPLATE=.*with the root's 801 bytes a key can reach 1122 bytes/,
  ]);
});
