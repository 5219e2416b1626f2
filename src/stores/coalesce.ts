/**
 * Small body pieces merged into larger ones before they reach the part cutter. A client that
 * writes its body in small pieces (16 KiB) makes the socket give small reads; each would
 * otherwise cost its own trip through the cutter, the streamed part and a write to S3's
 * socket. Merging copies each small byte once and makes the cost per GiB the same whatever
 * the client's write size. Pieces already large pass through uncopied.
 */

/** Pieces at least this large pass through as they are. */
const LARGE_PIECE = 64 * 1024;
/** Small pieces are merged up to this size. */
const MERGED_SIZE = 256 * 1024;

/**
 * The same bytes, in order, small pieces merged. When the source ends or fails, the bytes
 * merged so far are given first: a body that broke off keeps everything that arrived.
 */
export async function* coalesce(pieces: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let held: Buffer[] = [];
  let size = 0;
  const take = (): Buffer => {
    const merged = held.length === 1 ? (held[0] as Buffer) : Buffer.concat(held, size);
    held = [];
    size = 0;
    return merged;
  };
  let failure: { error: unknown } | undefined;
  try {
    for await (const piece of pieces) {
      if (piece.length >= LARGE_PIECE) {
        if (size > 0) yield take();
        yield piece;
        continue;
      }
      held.push(piece);
      size += piece.length;
      if (size >= MERGED_SIZE) yield take();
    }
  } catch (error) {
    failure = { error };
  }
  // Not in a `finally`: a consumer that stops early must end this generator, not resume it.
  if (size > 0) yield take();
  if (failure) throw failure.error;
}
