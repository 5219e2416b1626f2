/**
 * PART_MEMORY as a byte budget: every byte of a part held in memory (being filled, streaming,
 * waiting for a slot, being sent, kept for a re-send, the tail read back) is reserved here
 * first, and given back once S3 has the part or the bytes are kept elsewhere. Requests wait in
 * line (first come, first served) when the budget is spent, which slows their clients down
 * through TCP instead of growing the heap.
 *
 * A reservation is taken for a whole part before its first byte is read, so a part that holds
 * one always completes (given its client's bytes) and gives it back: no two requests can each
 * hold half of what the other needs.
 */
export class PartMemory {
  private free: number;
  private readonly line: Array<{ bytes: number; resolve: () => void }> = [];

  constructor(readonly limit: number) {
    this.free = limit;
  }

  /** Bytes reserved now. */
  get held(): number {
    return this.limit - this.free;
  }

  /** Requests waiting for room. */
  get waiting(): number {
    return this.line.length;
  }

  /**
   * Reserve `bytes`, waiting in line until they are free. A part larger than the whole budget
   * (only for uploads above 10,000 x PART_MEMORY) reserves all of it and runs alone. Returns
   * what was reserved (to give back).
   */
  async take(bytes: number): Promise<number> {
    const amount = Math.min(bytes, this.limit);
    if (amount <= 0) return 0;
    if (this.line.length === 0 && amount <= this.free) {
      this.free -= amount;
      return amount;
    }
    await new Promise<void>((resolve) => this.line.push({ bytes: amount, resolve }));
    return amount;
  }

  give(bytes: number): void {
    if (bytes <= 0) return;
    this.free = Math.min(this.limit, this.free + bytes);
    this.serve();
  }

  private serve(): void {
    for (let next = this.line[0]; next && next.bytes <= this.free; next = this.line[0]) {
      this.line.shift();
      this.free -= next.bytes;
      next.resolve();
    }
  }
}

/**
 * One request's share of the budget: what it reserved for the part it is filling (and for
 * the tail it read back). Handed to each full part it dispatches, given back when S3 has it,
 * and whatever is left when the request ends.
 */
export class Reservation {
  private bytes = 0;

  constructor(private readonly memory: PartMemory) {}

  /** Make the reservation at least `total` bytes (capped at the budget). */
  async cover(total: number): Promise<void> {
    const missing = Math.min(total, this.memory.limit) - this.bytes;
    if (missing > 0) this.bytes += await this.memory.take(missing);
  }

  /** The reservation, now owned by a dispatched part (given back when it settles). */
  handOff(): number {
    const bytes = this.bytes;
    this.bytes = 0;
    return bytes;
  }

  release(): void {
    this.memory.give(this.handOff());
  }
}

/**
 * Run `work` with a reservation of `memory` that starts empty; what it still holds when `work`
 * settles (bytes not handed off to a part or block) is given back.
 */
export async function withReservation<T>(memory: PartMemory, work: (reservation: Reservation) => Promise<T>): Promise<T> {
  const reservation = new Reservation(memory);
  try {
    return await work(reservation);
  } finally {
    reservation.release();
  }
}
