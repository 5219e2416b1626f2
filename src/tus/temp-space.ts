/**
 * TUS_TEMP_MAX_SIZE: the bytes every checksum spool together may hold in TUS_TEMP_DIR. A spool
 * reserves its body's announced length before it starts, and grows its reservation as bytes
 * arrive beyond it (chunked bodies); what does not fit is refused, so the temp directory
 * never holds more than the total.
 */
export class TempSpace {
  private reserved = 0;
  /** @param max bytes; 0: no limit. */
  constructor(readonly max: number) {}

  get inUse(): number {
    return this.reserved;
  }

  /** Reserve `bytes`; false (nothing reserved) when they would pass the total. */
  reserve(bytes: number): boolean {
    if (this.max > 0 && this.reserved + bytes > this.max) return false;
    this.reserved += bytes;
    return true;
  }

  release(bytes: number): void {
    this.reserved = Math.max(0, this.reserved - bytes);
  }
}

/**
 * The temp directory cannot take the body: other spools hold the space (retry later), or the
 * body alone is larger than the total (`alone`: it never will).
 */
export class TempSpaceFull extends Error {
  override name = 'TempSpaceFull';
  constructor(readonly alone: boolean) {
    super(alone ? 'the body is larger than TUS_TEMP_MAX_SIZE' : 'TUS_TEMP_MAX_SIZE is in use by other spools');
  }
}
