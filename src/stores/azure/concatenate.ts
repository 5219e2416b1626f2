/**
 * The final upload of a concatenation, assembled inside Azure: every partial's bytes are staged
 * as blocks of the final blob straight from the partial's blob (Put Block From URL, the source
 * read through a short-lived SAS signed with the account key), never downloaded, then committed.
 */
import { blockId, MAX_BLOCK_SIZE, MAX_BLOCKS, MiB } from './block-size.js';
import type { BlockStager } from './block-stager.js';
import type { AzureContainer } from './container.js';
import { StoreError } from './errors.js';
import type { AzureUpload } from './upload.js';

/** Bytes copied per block: Put Block From URL takes up to 4000 MiB, older service versions 100 MiB. */
const COPY_BLOCK = 100 * MiB;

/** The block size that fits `total` bytes of `partials` partials (each starting a block) into 50,000 blocks. */
export function copyBlockSize(total: number, partials: number): number {
  const room = MAX_BLOCKS - partials;
  const needed = room > 0 ? Math.ceil(total / room) : Number.POSITIVE_INFINITY;
  return Math.max(COPY_BLOCK, Math.ceil(needed / MiB) * MiB);
}

export async function assemble(
  target: AzureUpload,
  partials: readonly AzureUpload[],
  container: AzureContainer,
  stager: BlockStager,
): Promise<void> {
  const total = partials.reduce((sum, p) => sum + (p.info.size ?? 0), 0);
  const slice = copyBlockSize(total, partials.length);
  if (slice > MAX_BLOCK_SIZE) throw new StoreError(413, `The partials hold ${total} bytes: more than one Azure blob can.\n`);
  const ids: string[] = [];
  const tasks: Array<Promise<void>> = [];
  for (const partial of partials) {
    const size = partial.info.size ?? 0;
    for (let pos = 0; pos < size; pos += slice) {
      const id = blockId(ids.length);
      const count = Math.min(slice, size - pos);
      const offset = pos;
      ids.push(id);
      // Copies hold no bytes here: no part memory to reserve.
      tasks.push(stager.copy(() => container.stageBlockFromBlob(target.info.blob, id, partial.info.blob, offset, count)));
    }
  }
  // Every copy settled before a failure is answered: none may stage blocks after the undo.
  const failed = (await Promise.allSettled(tasks)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  await container.commit(target.info.blob, ids, target.headers());
  target.finished = true;
}

/**
 * Best effort: remove the blocks of a failed assembly and put back `before`, the state of a
 * final upload that was waiting for its partials (a new one's is removed by its caller).
 */
export async function undoAssembly(target: AzureUpload, container: AzureContainer, before: string | undefined): Promise<void> {
  try {
    // A new final upload committed but its `.info` not written: nothing would ever find the blob.
    if (!target.finished || before === undefined) await container.discardBlocks(target.info.blob);
    if (target.finished || before === undefined) return;
    await container.put(target.names.info, Buffer.from(before), { contentType: 'application/json' });
  } catch (error) {
    container.warn({ blob: target.names.info, err: error }, 'a failed concatenation was not undone');
  }
}
