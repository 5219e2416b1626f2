/**
 * The durable part of at-least-once delivery: a post-finish or post-terminate hook is written
 * here before the client's answer goes out and removed once the receiver answered 2xx. Each
 * location keeps its own, with its uploads (in the bucket under `<root>.tus-hooks/`, on disk in
 * `<root>/.tus-hooks/`), so a restart or a crash loses nothing and any instance sharing the
 * storage can deliver what another left. A location whose store keeps no records holds its
 * deliveries in memory only.
 */
import { isRecordKeeper, type RecordKeeper } from '../stores/capabilities.js';
import type { HookEvent } from './events.js';

export const OUTBOX_KIND = 'hooks';

export interface OutboxEntry {
  /** The idempotency key; also the record's name. */
  key: string;
  event: HookEvent;
  uploadId: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** The exact JSON body sent on every attempt. */
  body: string;
}

const isEntry = (value: unknown): value is OutboxEntry => {
  const e = value as Partial<OutboxEntry> | null;
  return (
    typeof e?.key === 'string' &&
    typeof e.event === 'string' &&
    typeof e.uploadId === 'string' &&
    typeof e.createdAt === 'number' &&
    typeof e.body === 'string'
  );
};

export class Outbox {
  private readonly keeper: RecordKeeper | undefined;
  constructor(
    readonly location: string,
    store: unknown,
  ) {
    this.keeper = isRecordKeeper(store) ? store : undefined;
  }

  get durable(): boolean {
    return this.keeper !== undefined;
  }

  /** Resolves once the entry is stored (at once when the location keeps no records). */
  async add(entry: OutboxEntry): Promise<void> {
    await this.keeper?.putRecord(OUTBOX_KIND, entry.key, JSON.stringify(entry));
  }

  /** The body of the stored entry `key`; undefined when it is no longer stored (delivered, maybe by another instance). */
  async body(key: string): Promise<string | undefined> {
    const text = await this.keeper?.readRecord(OUTBOX_KIND, key);
    if (text === undefined) return undefined;
    const entry: unknown = JSON.parse(text);
    return isEntry(entry) && entry.key === key ? entry.body : undefined;
  }

  async remove(key: string): Promise<void> {
    await this.keeper?.deleteRecord(OUTBOX_KIND, key);
  }

  /** The names (idempotency keys) of the stored entries. */
  async names(): Promise<string[]> {
    return this.keeper ? this.keeper.listRecords(OUTBOX_KIND) : [];
  }

  /**
   * The stored entry `name`: undefined when it is no longer stored (delivered meanwhile, maybe by
   * another instance); throws OutboxRecordError for a record that is not an entry.
   */
  async entry(name: string): Promise<OutboxEntry | undefined> {
    const text = await this.keeper?.readRecord(OUTBOX_KIND, name);
    if (text === undefined) return undefined;
    let entry: unknown;
    try {
      entry = JSON.parse(text);
    } catch (error) {
      throw new OutboxRecordError((error as Error).message);
    }
    if (!isEntry(entry) || entry.key !== name) throw new OutboxRecordError('not an outbox entry');
    return entry;
  }
}

/** A record in the outbox that is not a delivery (left alone). */
export class OutboxRecordError extends Error {}
