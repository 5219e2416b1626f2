/**
 * `Upload-Metadata` of a creation, read with the grammar @tus/server accepts (comma-separated
 * `key base64value` or `key`, one space, unique keys of ASCII without space or comma), but
 * answering what is wrong instead of "Invalid upload-metadata"; and bounded in bytes and keys.
 */

export interface MetadataLimits {
  /** Bytes of the header value. */
  maxSize: number;
  /** Number of keys. */
  maxKeys: number;
}

export type ParsedMetadata = { ok: true; metadata: Map<string, string | null> } | { ok: false; problem: string };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const show = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text);

/** The metadata, or a message saying what is wrong with it (which limit, which pair). */
export function parseUploadMetadata(header: string, limits: MetadataLimits): ParsedMetadata {
  const size = Buffer.byteLength(header);
  if (size > limits.maxSize) {
    return {
      ok: false,
      problem: `Upload-Metadata is ${size} bytes; at most ${limits.maxSize} are accepted (TUS_MAX_METADATA_SIZE): send less metadata`,
    };
  }
  const pairs = header.split(',');
  if (pairs.length > limits.maxKeys) {
    return {
      ok: false,
      problem: `Upload-Metadata has ${pairs.length} keys; at most ${limits.maxKeys} are accepted (TUS_MAX_METADATA_KEYS): send fewer`,
    };
  }
  const metadata = new Map<string, string | null>();
  for (const [index, pair] of pairs.entries()) {
    const where = `Upload-Metadata pair ${index + 1} (${show(pair)})`;
    const tokens = pair.split(' ');
    const [key = '', value] = tokens;
    if (tokens.length > 2 || key === '') {
      return {
        ok: false,
        problem: `${where} must be "key base64value" or "key": pairs are separated by "," without spaces, key and value by one space`,
      };
    }
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is what ASCII means.
    if (!/^[\x00-\x7f]+$/.test(key)) return { ok: false, problem: `${where}: the key must be ASCII` };
    // @tus/server refuses keys an object already has (such as "constructor"): say so here.
    if (metadata.has(key) || key in Object.prototype)
      return { ok: false, problem: `${where}: the key ${show(key)} is repeated or reserved` };
    if (value !== undefined && (value.length % 4 !== 0 || !BASE64.test(value))) {
      return { ok: false, problem: `${where}: the value must be base64 (A-Z a-z 0-9 + /, padded with = to a multiple of 4)` };
    }
    metadata.set(key, value === undefined ? null : Buffer.from(value, 'base64').toString('utf8'));
  }
  return { ok: true, metadata };
}
