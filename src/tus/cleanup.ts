/** Removal of expired unfinished uploads: on a cron schedule, or once from the command line. */
import type { DataStore } from '@tus/utils';
import { Cron } from 'croner';
import type { Logger } from 'pino';

export interface NamedStore {
  name: string;
  datastore: DataStore;
}

/** Run every location's cleanup; returns the number removed per location. */
export async function cleanupExpired(
  stores: readonly NamedStore[],
  log: Logger,
  onRemoved?: (location: string, count: number) => void,
): Promise<Record<string, number>> {
  const removed: Record<string, number> = {};
  for (const { name, datastore } of stores) {
    if (!datastore.hasExtension('expiration')) continue;
    try {
      removed[name] = await datastore.deleteExpired();
      onRemoved?.(name, removed[name] ?? 0);
      log.info({ location: name, removed: removed[name] }, 'expired uploads removed');
    } catch (error) {
      log.error({ location: name, err: error }, 'cleanup of expired uploads failed');
      throw error;
    }
  }
  return removed;
}

/**
 * Start the schedule; never two runs at once (`protect`), and with `alone` (a lock shared by
 * several instances) never two instances at once: an instance that finds it taken skips the run.
 */
export function scheduleCleanup(
  schedule: string,
  stores: readonly NamedStore[],
  log: Logger,
  onRemoved?: (location: string, count: number) => void,
  alone?: (run: () => Promise<void>) => Promise<boolean>,
): Cron {
  return new Cron(schedule, { protect: true, catch: (error) => log.error({ err: error }, 'scheduled cleanup failed') }, async () => {
    const run = async () => void (await cleanupExpired(stores, log, onRemoved));
    if (!alone) return run();
    if (!(await alone(run))) log.info('scheduled cleanup skipped: another instance is running it');
  });
}
