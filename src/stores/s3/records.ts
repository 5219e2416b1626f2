/**
 * The location's records (RecordKeeper, the hooks' outbox): objects under `<root>.tus-<kind>/`,
 * not `.info` objects, so expiry never reads them as uploads.
 */
import type { RecordKeeper } from '../capabilities.js';
import type { Bucket } from './bucket.js';

export class RecordObjects implements RecordKeeper {
  constructor(
    private readonly bucket: Bucket,
    private readonly root: string,
  ) {}

  private prefix(kind: string): string {
    return `${this.root}.tus-${kind}/`;
  }

  async putRecord(kind: string, name: string, text: string): Promise<void> {
    const body = Buffer.from(text);
    await this.bucket.putPrivate(`${this.prefix(kind)}${name}.json`, body, body.length, { ContentType: 'application/json' });
  }

  readRecord(kind: string, name: string): Promise<string | undefined> {
    return this.bucket.readText(`${this.prefix(kind)}${name}.json`);
  }

  async deleteRecord(kind: string, name: string): Promise<void> {
    await this.bucket.delete(`${this.prefix(kind)}${name}.json`);
  }

  async listRecords(kind: string): Promise<string[]> {
    const prefix = this.prefix(kind);
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.bucket.list(prefix, token);
      for (const object of page.Contents ?? []) {
        const name = object.Key?.slice(prefix.length);
        if (name?.endsWith('.json') && !name.includes('/')) names.push(name.slice(0, -'.json'.length));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return names;
  }
}
