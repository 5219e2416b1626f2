/**
 * The tus concatenation extension, all of it (its parts in src/tus/concatenation/). @tus/server
 * only lets partial uploads through: a partial upload is created by @tus/server and marked in
 * its metadata under a reserved key (`markPartial`, its onUploadCreate hook); HEAD shows the
 * mark as `Upload-Concat` (`showConcat`). A final upload is created here (`createFinal`), with
 * what every other upload gets from @tus/server: the locks of the uploads involved, and the
 * upload events (created, finished) that metrics and hooks listen to. PATCH to a final upload
 * is refused (403). A final upload created while its partials still receive waits for them:
 * the last one's PATCH assembles it (`assembleWaitingFinals`), and its HEAD is answered from
 * them (`waitingFinalHead`, which assembles it once they are all finished).
 *
 * Concatenation writes bytes the client does not send: one partial listed many times, or in
 * many finals, would multiply what a client uploads into storage. So a final lists at most
 * TUS_CONCAT_MAX_PARTS partials, and each partial's bytes go into at most TUS_CONCAT_MAX_USES
 * finals (a partial listed twice counts twice): storage written by concatenation stays within
 * that many times the bytes received (concatenation/claims.ts).
 */
export type { Assembly } from './concatenation/assemble-waiting.js';
export { assembleWaitingFinals } from './concatenation/assemble-waiting.js';
export type { ConcatLimits } from './concatenation/claims.js';
export { createFinal, type FinalRequest } from './concatenation/create-final.js';
export { type ConcatHeader, parseConcatHeader } from './concatenation/header.js';
export { CONCAT_KEY, clientMetadata, isFinalUpload, markPartial, showConcat } from './concatenation/marks.js';
export { type WaitingHead, waitingFinalHead } from './concatenation/waiting-head.js';
