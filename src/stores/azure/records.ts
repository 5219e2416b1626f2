/**
 * The location's records (RecordKeeper, the hooks' outbox): blobs under `<root>.tus-<kind>/`,
 * not `.info` blobs, so expiry never reads them as uploads.
 */
import type { RecordKeeper } from '../capabilities.js';
import type { AzureContainer } from './container.js';

export class BlobRecords implements RecordKeeper {
  constructor(
    private readonly container: AzureContainer,
    private readonly root: string,
  ) {}

  private prefix(kind: string): string {
    return `${this.root}.tus-${kind}/`;
  }

  async putRecord(kind: string, name: string, text: string): Promise<void> {
    await this.container.put(`${this.prefix(kind)}${name}.json`, Buffer.from(text), { contentType: 'application/json' });
  }

  async readRecord(kind: string, name: string): Promise<string | undefined> {
    return (await this.container.readState(`${this.prefix(kind)}${name}.json`))?.text;
  }

  async deleteRecord(kind: string, name: string): Promise<void> {
    await this.container.delete(`${this.prefix(kind)}${name}.json`);
  }

  async listRecords(kind: string): Promise<string[]> {
    const prefix = this.prefix(kind);
    const names: string[] = [];
    for await (const blob of this.container.list(prefix)) {
      const name = blob.name.slice(prefix.length);
      if (name.endsWith('.json') && !name.includes('/')) names.push(name.slice(0, -'.json'.length));
    }
    return names;
  }
}
