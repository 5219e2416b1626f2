/**
 * Milliseconds on a clock that only moves forward (performance.now()): for timeouts, deadlines
 * and the age of a lock, which a wall clock set back (NTP, a VM resumed) would stretch.
 */
export const monotonic = (): number => performance.now();
