/**
 * Object key templates (STORAGE_<LOC>_KEY_TEMPLATE), for every driver: the template's text
 * checked once at start (`parseKeyTemplate`), and the key of one upload (`objectKey`).
 *
 * Contract of `objectKey(template, facts)`: the key of the upload relative to the location's
 * root (the store puts `_ROOT` in front), computed once at creation and recorded in the
 * upload's state; a pure function of its arguments (the same facts give the same key).
 * - `{id}` the upload id, `{subject}` the authenticated subject or `anonymous` (authentication
 *   off), `{year}` `{month}` `{day}` the creation date in UTC, zero-padded (2026, 03, 07),
 *   `{metadata.<key>}` that Upload-Metadata value.
 * - A value keeps ASCII letters and digits, letters, digits and marks of any script (after NFC
 *   normalisation), and `! - _ . * ' ( )`; every other character is percent-encoded as its
 *   UTF-8 bytes (`/` is `%2F`, a space `%20`, `%` `%25`, control characters `%0A`...): a value
 *   never adds a segment, and the key holds only characters every provider takes as they are.
 * - A missing, null or empty value is `_`. A value longer than 120 bytes keeps its first 80
 *   and its last 39 bytes (the file extension), joined by `_`, cut between characters; the id
 *   is never cut.
 * - A segment that a value makes `.` or `..` has its dots written `%2E`, and so has a key's
 *   leading dot (names beginning with `.` are the server's own, such as `.tus-hooks/`).
 * - Every key of one template has the same segments, and the segment holding `{id}` holds
 *   nothing else but literal text (checked by the parser): two uploads never share a key. A
 *   segment is at most 255 bytes (the longest file name) and the key at most 1024 (the longest
 *   S3 key and Azure blob name), checked by the parser against the largest values.
 */

/** A placeholder, or literal text. */
export type KeyPart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'id' | 'subject' | 'year' | 'month' | 'day' }
  | { readonly kind: 'metadata'; readonly key: string };

/** A checked template: its segments (between `/`), each a list of parts. */
export interface KeyTemplate {
  readonly text: string;
  readonly segments: readonly (readonly KeyPart[])[];
  /** The longest key it can make, in bytes (ids and values at their longest). */
  readonly largestKeyBytes: number;
}

/** What the key is made of: known at creation. */
export interface KeyFacts {
  readonly id: string;
  /** The authenticated subject; undefined when authentication is off. */
  readonly subject: string | undefined;
  /** The creation date (an ISO string, as an Upload's `creation_date`). */
  readonly createdAt: Date | string;
  readonly metadata: Readonly<Record<string, string | null>> | undefined;
}

/** `{subject}` when authentication is off. */
export const ANONYMOUS = 'anonymous';
/** A missing or empty value. */
export const MISSING = '_';
/** The longest S3 key (UTF-8 bytes) and Azure blob name (characters). */
export const MAX_KEY_BYTES = 1024;
/** The longest file name on common file systems: the local driver makes a directory or file of each segment. */
export const MAX_SEGMENT_BYTES = 255;
/** The longest value, once encoded. */
export const MAX_VALUE_BYTES = 120;
/** Longest upload id (src/tus/upload-id.ts). */
const MAX_ID_BYTES = 200;
/**
 * The names a store keeps beside an upload at the root (`<id>.info` and `<id>.part` on S3,
 * `<id>.json` on local): a key of one segment never ends so.
 */
export const STATE_SUFFIXES = ['.info', '.part', '.json'] as const;

const PLACEHOLDERS = '{id}, {subject}, {year}, {month}, {day}, {metadata.<key>}';
/** AWS's "safe characters" for object keys, and the delimiter. */
const LITERAL = /^[A-Za-z0-9!_.*'()/-]*$/;
const METADATA_KEY = /^[!-~]+$/;

/** The template, or what is wrong with it (said for STORAGE_<LOC>_KEY_TEMPLATE). */
export function parseKeyTemplate(text: string): KeyTemplate | { problem: string } {
  const parts = tokenize(text);
  if ('problem' in parts) return parts;
  const segments = splitSegments(parts);
  const problem = layoutProblem(text, segments) ?? sizeProblem(segments);
  return problem ? { problem } : { text, segments, largestKeyBytes: largestBytes(segments) };
}

/** Why keys under a root (prefix) of `rootBytes` bytes could pass the longest object name, or undefined. */
export function keyRoomProblem(template: KeyTemplate, rootBytes: number): string | undefined {
  const total = rootBytes + template.largestKeyBytes;
  if (total <= MAX_KEY_BYTES) return undefined;
  return `with the root's ${rootBytes} bytes a key can reach ${total} bytes, above the ${MAX_KEY_BYTES} of an object name: shorten the template or the root`;
}

function tokenize(text: string): KeyPart[] | { problem: string } {
  const parts: KeyPart[] = [];
  let rest = text;
  while (rest !== '') {
    const open = rest.indexOf('{');
    const close = rest.indexOf('}');
    if (close !== -1 && (open === -1 || close < open)) return { problem: `a "}" without its "{" at ${JSON.stringify(rest)}` };
    const literal = open === -1 ? rest : rest.slice(0, open);
    if (!LITERAL.test(literal)) {
      return {
        problem: `${JSON.stringify(literal)}: the template's own text takes letters, digits, / and ! - _ . * ' ( ) only (values come from placeholders: ${PLACEHOLDERS})`,
      };
    }
    if (literal) parts.push({ kind: 'text', text: literal });
    if (open === -1) break;
    const end = rest.indexOf('}', open);
    const inner = end === -1 ? undefined : rest.slice(open + 1, end);
    if (inner === undefined || inner.includes('{')) return { problem: `a "{" without its "}" at ${JSON.stringify(rest.slice(open))}` };
    const part = placeholder(inner);
    if ('problem' in part) return part;
    parts.push(part);
    rest = rest.slice(end + 1);
  }
  return parts;
}

function placeholder(name: string): KeyPart | { problem: string } {
  if (name === 'id' || name === 'subject' || name === 'year' || name === 'month' || name === 'day') return { kind: name };
  if (name.startsWith('metadata.')) {
    const key = name.slice('metadata.'.length);
    if (!METADATA_KEY.test(key) || key.includes(',')) {
      return { problem: `{${name}}: a metadata key is ASCII without spaces, commas or braces, such as {metadata.filename}` };
    }
    if (key.startsWith('tus-')) return { problem: `{${name}}: metadata keys beginning with tus- are the server's own` };
    return { kind: 'metadata', key };
  }
  return { problem: `unknown placeholder {${name}}; the placeholders are ${PLACEHOLDERS}` };
}

/** The parts between `/`s (literal text split at each). */
function splitSegments(parts: readonly KeyPart[]): KeyPart[][] {
  const segments: KeyPart[][] = [[]];
  for (const part of parts) {
    if (part.kind !== 'text') {
      segments[segments.length - 1]?.push(part);
      continue;
    }
    part.text.split('/').forEach((piece, index) => {
      if (index > 0) segments.push([]);
      if (piece) segments[segments.length - 1]?.push({ kind: 'text', text: piece });
    });
  }
  return segments;
}

const onlyText = (segment: readonly KeyPart[]) => segment.every((p) => p.kind === 'text');
const textOf = (segment: readonly KeyPart[]) => segment.map((p) => (p.kind === 'text' ? p.text : '')).join('');

function layoutProblem(text: string, segments: readonly (readonly KeyPart[])[]): string | undefined {
  if (text.startsWith('/') || text.endsWith('/'))
    return 'the key is relative to the location\'s root (its _ROOT): no "/" at its start or end';
  if (segments.some((s) => s.length === 0)) return 'an empty segment ("//"): remove one "/"';
  if (segments.some((s) => onlyText(s) && (textOf(s) === '.' || textOf(s) === '..'))) return 'a segment "." or ".." is not allowed';
  if (text.startsWith('.')) return 'names beginning with "." are the server\'s own (.tus-hooks/): begin with something else';
  const idSegment = segments.some((s) => s.some((p) => p.kind === 'id') && s.every((p) => p.kind === 'id' || p.kind === 'text'));
  if (!idSegment) {
    return segments.some((s) => s.some((p) => p.kind === 'id'))
      ? '{id} must not share its segment with another placeholder (two uploads could then get the same key): put a "/" between them, such as {id}/{metadata.filename}'
      : 'the template has no {id}: without it two uploads could get the same key; add it, such as uploads/{year}/{id}';
  }
  const [only] = segments;
  if (segments.length === 1 && only && STATE_SUFFIXES.some((suffix) => textOf(only).endsWith(suffix))) {
    return `a key of one segment must not end with ${STATE_SUFFIXES.join(', ')} (the names of the uploads' own state): add a "/" or another ending`;
  }
  return undefined;
}

const LARGEST: Record<Exclude<KeyPart['kind'], 'text'>, number> = {
  id: MAX_ID_BYTES,
  subject: MAX_VALUE_BYTES,
  metadata: MAX_VALUE_BYTES,
  year: 4,
  month: 2,
  day: 2,
};

const segmentBytes = (segment: readonly KeyPart[]) =>
  segment.reduce((total, p) => total + (p.kind === 'text' ? p.text.length : LARGEST[p.kind]), 0);
const largestBytes = (segments: readonly (readonly KeyPart[])[]) =>
  segments.map(segmentBytes).reduce((a, b) => a + b, 0) + segments.length - 1;

function sizeProblem(segments: readonly (readonly KeyPart[])[]): string | undefined {
  const sizes = segments.map(segmentBytes);
  const largestSegment = Math.max(...sizes);
  if (largestSegment > MAX_SEGMENT_BYTES) {
    return `a segment can reach ${largestSegment} bytes (ids up to ${MAX_ID_BYTES}, values up to ${MAX_VALUE_BYTES}), above the ${MAX_SEGMENT_BYTES} of a file name: split it with "/"`;
  }
  const largest = largestBytes(segments);
  if (largest > MAX_KEY_BYTES) return `a key can reach ${largest} bytes, above the ${MAX_KEY_BYTES} of an S3 key: use fewer placeholders`;
  return undefined;
}

/** The key of an upload under `template`, relative to the location's root (see the contract above). */
export function objectKey(template: KeyTemplate, facts: KeyFacts): string {
  const date = new Date(facts.createdAt);
  const pad = (n: number, width: number) => String(n).padStart(width, '0');
  const written = (part: KeyPart): string => {
    switch (part.kind) {
      case 'text':
        return part.text;
      case 'id':
        // Never cut: the id is what makes the key unique (ids are letters, digits, _ and -, at most 200).
        return encodedChars(facts.id).join('');
      case 'subject':
        return safeValue(facts.subject ?? ANONYMOUS);
      case 'year':
        return pad(date.getUTCFullYear(), 4);
      case 'month':
        return pad(date.getUTCMonth() + 1, 2);
      case 'day':
        return pad(date.getUTCDate(), 2);
      case 'metadata':
        return safeValue(facts.metadata?.[part.key] ?? '');
    }
  };
  const segments = template.segments.map((segment) => {
    const text = segment.map(written).join('');
    return text === '.' || text === '..' ? text.replaceAll('.', '%2E') : text;
  });
  const key = segments.join('/');
  return key.startsWith('.') ? `%2E${key.slice(1)}` : key;
}

const KEPT = /^[A-Za-z0-9!_.*'()\-\p{L}\p{N}\p{M}]$/u;

/** One entry per character of the value, as it is written into a key. */
function encodedChars(value: string): string[] {
  return Array.from(value.normalize('NFC'), (char) => (KEPT.test(char) ? char : percentEncoded(char)));
}

/** A value as it goes into a key: encoded, bounded, never empty. */
export function safeValue(value: string): string {
  // Cuts fall between the entries: between characters.
  const chars = encodedChars(value);
  const encoded = chars.join('');
  if (encoded === '') return MISSING;
  if (Buffer.byteLength(encoded) <= MAX_VALUE_BYTES) return encoded;
  const head = within(chars, 80);
  const tail = within([...chars].reverse(), MAX_VALUE_BYTES - 81).reverse();
  return `${head.join('')}${MISSING}${tail.join('')}`;
}

function percentEncoded(char: string): string {
  return Array.from(new TextEncoder().encode(char), (byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

/** The leading entries of `chars` that fit in `budget` bytes. */
function within(chars: readonly string[], budget: number): string[] {
  const taken: string[] = [];
  let bytes = 0;
  for (const char of chars) {
    bytes += Buffer.byteLength(char);
    if (bytes > budget) break;
    taken.push(char);
  }
  return taken;
}
