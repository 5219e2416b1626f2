/** Content-Type and Content-Disposition of a finished upload, from its tus metadata. */
import { create as contentDisposition } from 'content-disposition';

type Metadata = Record<string, string | null> | undefined;

// type/subtype with optional parameters, as RFC 9110 allows; anything else is not trusted. Only
// spaces and tabs around ";", only visible ASCII, spaces and tabs in a quoted value: a control
// character or one past U+007F cannot go into the Content-Type of a PutObject, an Azure commit
// or a download (Node refuses it).
const MIME = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+([ \t]*;[ \t]*[a-z0-9!#$&^_.+-]+=("[\t !#-[\]-~]*"|[a-z0-9!#$&^_.+-]+))*$/i;

export function contentTypeOf(metadata: Metadata): string {
  const type = metadata?.filetype ?? metadata?.contentType ?? metadata?.type;
  return type && type.length <= 255 && MIME.test(type) ? type : 'application/octet-stream';
}

export function fileNameOf(metadata: Metadata): string | undefined {
  const name = metadata?.filename ?? metadata?.name;
  if (!name) return undefined;
  // The last path segment only, without control characters.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const clean = (name.split(/[\\/]/).pop() ?? '').replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 255);
  return clean || undefined;
}

/**
 * `inline; filename="..."; filename*=UTF-8''...` (RFC 6266); `attachment` alone for a type not
 * safe inline without a filename (an HTML or SVG upload must never render on our origin); else
 * undefined without a filename.
 */
export function contentDispositionOf(metadata: Metadata, type: 'inline' | 'attachment' = 'inline'): string | undefined {
  const name = fileNameOf(metadata);
  if (name) return contentDisposition(name, { type });
  return type === 'attachment' ? 'attachment' : undefined;
}

/** The disposition a finished upload is served with: inline only for types safe to show. */
export function servedDisposition(metadata: Metadata): string | undefined {
  return contentDispositionOf(metadata, isSafeInline(contentTypeOf(metadata)) ? 'inline' : 'attachment');
}

/** Types a browser may show inline from our origin; anything else (HTML, SVG, PDF) downloads. */
const SAFE_INLINE = new Set([
  'text/plain',
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/bmp',
  'image/webp',
  'audio/wav',
  'audio/webm',
  'audio/ogg',
  'audio/mpeg',
  'video/mp4',
  'video/webm',
  'video/ogg',
]);

export function isSafeInline(contentType: string): boolean {
  return SAFE_INLINE.has(contentType.split(';')[0]?.trim().toLowerCase() ?? '');
}
