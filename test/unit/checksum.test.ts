/** The tus checksum extension: header parsing, and spooling a body while its digest is checked. */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import t from 'tap';
import { type ChecksumHeader, digestLengthNote, parseChecksumHeader, spoolAndVerify, tempBytesInUse } from '../../src/tus/checksum.js';

// Published test vectors of "123456789" (the CRC-32 check value is 0xCBF43926).
const BODY = '123456789';
const DIGESTS = {
  sha1: 'f7c3bc1d808e04732adf679965ccc34ca7ae3441',
  md5: '25f9e794323b453885f5181f1b624d0b',
  sha256: '15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225',
  crc32: 'cbf43926',
} as const;
const header = (algorithm: string, hex: string) => `${algorithm} ${Buffer.from(hex, 'hex').toString('base64')}`;
/** The body in several chunks, so the digest is computed incrementally. */
const body = (value = BODY) => Readable.from([Buffer.from(value.slice(0, 2)), Buffer.from(value.slice(2, 5)), Buffer.from(value.slice(5))]);
const parsed = (value: string): ChecksumHeader => {
  const h = parseChecksumHeader(value);
  if (typeof h === 'string') throw new Error(h);
  return h;
};
const scratch = mkdtempSync(join(tmpdir(), 'tus-checksum-test-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
const spoolDir = () => mkdtempSync(join(scratch, 'spool-'));

t.test('parseChecksumHeader: each algorithm, its digest decoded', async (t) => {
  for (const [algorithm, hex] of Object.entries(DIGESTS)) {
    const h = parseChecksumHeader(header(algorithm, hex));
    t.same(h, { algorithm, digest: Buffer.from(hex, 'hex') }, algorithm);
  }
  t.same(parseChecksumHeader(header('SHA256', DIGESTS.sha256)), { algorithm: 'sha256', digest: Buffer.from(DIGESTS.sha256, 'hex') });
});

t.test('parseChecksumHeader: malformed headers give a message saying what is wrong', async (t) => {
  const format = 'Upload-Checksum must be "<algorithm> <base64 digest>", such as "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="';
  for (const value of ['', 'sha1', 'sha1 ', ' sha1', 'sha1  +9O8HYCOBHMq32eZZczDTKeuNEE=', 'sha1 ***', 'sha1 abc=d']) {
    t.equal(parseChecksumHeader(value), format, JSON.stringify(value));
  }
  t.equal(
    parseChecksumHeader('crc64 AAAAAAAAAAA='),
    'Upload-Checksum algorithm "crc64" is not supported; supported: sha1, md5, sha256, crc32',
  );
  t.equal(parseChecksumHeader('sha1 A'), 'Upload-Checksum digest "A" is not valid base64 (its length is not a multiple of 4)');
  // A well-formed digest of the wrong length parses (it is a mismatch, 460), with a note saying why it cannot match.
  const short = parseChecksumHeader('sha1 AAAA');
  t.match(short, { algorithm: 'sha1' });
  t.equal(digestLengthNote(short as ChecksumHeader), ' (the digest sent has 3 bytes; a sha1 digest has 20)');
  const long = parseChecksumHeader(header('md5', DIGESTS.sha1)) as ChecksumHeader;
  t.equal(digestLengthNote(long), ' (the digest sent has 20 bytes; a md5 digest has 16)');
  t.equal(
    digestLengthNote(parseChecksumHeader(header('sha1', DIGESTS.sha1)) as ChecksumHeader),
    '',
    'no note for a digest of the right length',
  );
});

t.test('spoolAndVerify: the real digest of a known body matches, for each algorithm', async (t) => {
  for (const [algorithm, hex] of Object.entries(DIGESTS)) {
    const dir = spoolDir();
    const spooled = await spoolAndVerify(body(), parsed(header(algorithm, hex)), dir);
    t.equal(spooled.matches, true, `${algorithm}: matches`);
    t.equal(spooled.size, BODY.length, `${algorithm}: size`);
    t.equal(await text(spooled.open()), BODY, `${algorithm}: the spooled bytes`);
    t.equal(await text(spooled.open()), BODY, `${algorithm}: opened again`);
    await spooled.dispose();
  }
});

t.test('spoolAndVerify: a wrong digest does not match', async (t) => {
  for (const [algorithm, hex] of Object.entries(DIGESTS)) {
    // One byte of the body changed: the digest of "123456789" no longer fits.
    const wrongBody = await spoolAndVerify(body('123456780'), parsed(header(algorithm, hex)), spoolDir());
    t.equal(wrongBody.matches, false, `${algorithm}: other body`);
    await wrongBody.dispose();
    // One bit of the digest changed.
    const flipped = Buffer.from(hex, 'hex');
    flipped[0] = (flipped[0] as number) ^ 1;
    const wrongDigest = await spoolAndVerify(body(), parsed(header(algorithm, flipped.toString('hex'))), spoolDir());
    t.equal(wrongDigest.matches, false, `${algorithm}: other digest`);
    t.equal(wrongDigest.size, BODY.length);
    await wrongDigest.dispose();
  }
});

t.test('spool files are removed by dispose, and tempBytesInUse() returns to 0', async (t) => {
  t.equal(tempBytesInUse(), 0, 'nothing spooled yet');
  const dir = spoolDir();
  const a = await spoolAndVerify(body(), parsed(header('sha1', DIGESTS.sha1)), dir);
  const big = Buffer.alloc(300_000, 7);
  const b = await spoolAndVerify(
    Readable.from([big.subarray(0, 100_000), big.subarray(100_000)]),
    parsed(header('crc32', '00000000')),
    dir,
  );
  t.equal(b.matches, false);
  t.equal(readdirSync(dir).length, 2, 'one spool directory per body');
  t.equal(tempBytesInUse(), BODY.length + big.length, 'both bodies counted while held');
  await a.dispose();
  t.equal(readdirSync(dir).length, 1, 'the first spool file is gone');
  t.equal(tempBytesInUse(), big.length);
  await b.dispose();
  await b.dispose();
  t.same(readdirSync(dir), [], 'no spool file left');
  t.equal(tempBytesInUse(), 0, 'back to 0, a second dispose counts nothing');
});

t.test('a body that fails while spooling leaves no file and no bytes counted', async (t) => {
  const dir = spoolDir();
  const failing = Readable.from(
    (async function* () {
      yield Buffer.from('12345');
      throw new Error('client went away');
    })(),
  );
  await t.rejects(spoolAndVerify(failing, parsed(header('sha256', DIGESTS.sha256)), dir), /client went away/);
  t.same(readdirSync(dir), [], 'the spool file is removed');
  t.equal(tempBytesInUse(), 0);
});
