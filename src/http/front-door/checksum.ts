/**
 * Gate 7, `Upload-Checksum` (checksum, checksum-trailer): the body is spooled and hashed; only a
 * body that matches goes on (460 otherwise), as `c.spooled`. Before a byte is spooled, the
 * upload must exist at the client's offset, and the body may not be longer than what the
 * upload can still take (the temp disk is not for unknown uploads).
 */
import type { Answer } from '../../tus/answer.js';
import {
  digestLengthNote,
  parseChecksumHeader,
  type SpooledBody,
  SpoolTooLarge,
  spoolAndVerify,
  spoolAndVerifyTrailer,
} from '../../tus/checksum.js';
import { refuse, refuseWith } from '../../tus/refusals.js';
import { TempSpaceFull } from '../../tus/temp-space.js';
import { type DoorContext, header, integerHeader } from './context.js';

export async function verifyChecksum(c: DoorContext): Promise<Answer | undefined> {
  const { o, request } = c;
  const checksum = header(c, 'upload-checksum');
  // checksum-trailer: a chunked PATCH (or creation POST) that announces the checksum as a trailer.
  const trailer = checksum === undefined && /(^|,)\s*upload-checksum\s*(,|$)/i.test(header(c, 'trailer') ?? '');
  const withBody = request.method === 'PATCH' || request.method === 'POST';
  if ((checksum === undefined && !trailer) || !withBody || request.headers['content-type'] !== 'application/offset+octet-stream') {
    return undefined;
  }
  const parsed = checksum === undefined ? undefined : parseChecksumHeader(checksum);
  if (typeof parsed === 'string') return refuse('badChecksumHeader', parsed);
  const room = await roomForBody(c);
  if (typeof room !== 'number') return room;
  const declared = integerHeader(c, 'content-length');
  if (declared !== undefined && declared > room) return refuse('bodyBeyondRoom', declared, room);
  const space = o.limits.tempSpace;
  if (space.max > 0 && declared !== undefined && declared > space.max) return refuse('bodyBeyondSpool', space.max);
  let spooled: SpooledBody;
  let problem: string | undefined;
  try {
    const spoolRoom = { space, announced: declared };
    if (parsed) spooled = await spoolAndVerify(request.raw, parsed, o.tempDir, room, spoolRoom);
    else ({ spooled, problem } = await spoolAndVerifyTrailer(request.raw, o.tempDir, room, spoolRoom));
  } catch (error) {
    return spoolFailed(c, error, room);
  }
  if (spooled.matches) {
    c.spooled = spooled;
    return undefined;
  }
  await spooled.dispose();
  const why = parsed
    ? `Upload-Checksum (${parsed.algorithm})${digestLengthNote(parsed)}`
    : `the Upload-Checksum trailer${problem ? ` (${problem})` : ''}`;
  return refuse('checksumMismatch', why);
}

/** Why the body could not be spooled; the rest of the body is not read: the connection is closed after the answer. */
function spoolFailed({ o, request }: DoorContext, error: unknown, room: number): Answer {
  const space = o.limits.tempSpace;
  if (error instanceof SpoolTooLarge) return refuse('bodyGrewBeyondRoom', room);
  if (error instanceof TempSpaceFull && error.alone) return refuseWith('bodyBeyondSpool', { Connection: 'close' }, space.max);
  if (error instanceof TempSpaceFull) {
    request.log.warn({ location: o.location, inUse: space.inUse, max: space.max }, 'checksum spool refused: TUS_TEMP_MAX_SIZE reached');
    return refuse('spoolSpaceFull');
  }
  // The client went away before the body was complete: nothing verifiable to keep.
  return refuse('bodyEndedEarly');
}

/** Bytes the body of a PATCH (at its upload's offset) or creation POST may hold, or the answer refusing it. */
async function roomForBody(c: DoorContext): Promise<number | Answer> {
  const { o, request } = c;
  const limit = o.maxSize > 0 ? o.maxSize : Number.MAX_SAFE_INTEGER;
  if (request.method === 'POST') return Math.min(limit, integerHeader(c, 'upload-length') ?? limit);
  const upload = await c.upload();
  if (!upload) return refuse('unknownUpload');
  if (upload.offset !== integerHeader(c, 'upload-offset')) {
    return refuseWith('offsetConflict', { 'Upload-Offset': String(upload.offset) }, upload.offset);
  }
  return (upload.size ?? limit) - upload.offset;
}
