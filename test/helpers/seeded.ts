/** Seeded randomness for replayable reliability tests (SEED=<n> replays a run). */
import { MiB } from './sizes.js';

/** mulberry32: a small seeded generator in [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded bytes (four per draw). */
export function seededData(random: () => number, length: number): Buffer {
  const data = Buffer.alloc(length);
  for (let i = 0; i + 4 <= length; i += 4) data.writeUInt32LE(Math.floor(random() * 2 ** 32), i);
  for (let i = length - (length % 4); i < length; i++) data[i] = Math.floor(random() * 256);
  return data;
}

/** A size from the environment: bytes, or <n>KiB / <n>MiB; `fallback` when unset. */
export function sizeFromEnv(text: string | undefined, fallback: number): number {
  if (!text) return fallback;
  const m = /^(\d+)\s*(MiB|KiB)?$/i.exec(text.trim());
  if (!m) throw new Error(`SIZE: ${text} is not a byte count, <n>KiB or <n>MiB`);
  const unit = m[2]?.toLowerCase();
  return Number(m[1]) * (unit === 'mib' ? MiB : unit === 'kib' ? 1024 : 1);
}
