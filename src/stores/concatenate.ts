/** A store that can build a final upload from finished partial uploads (tus concatenation). */
export interface Concatenator {
  /** Create upload `id`, finished, holding the partials' bytes in order; returns its length. */
  concatenate(id: string, partialIds: readonly string[], metadata: Record<string, string | null> | undefined): Promise<number>;
}

export function isConcatenator(store: unknown): store is Concatenator {
  return typeof (store as Partial<Concatenator>).concatenate === 'function';
}
