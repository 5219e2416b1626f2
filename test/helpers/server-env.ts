/**
 * The variables of a test server the scripts started (`scripts/<server>.sh` writes them to
 * `<dir>/env`), or those of another server given in the environment: when `key` is set there,
 * the environment alone is used; otherwise the file's values, the environment winning.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export function serverEnv(dir: string, key: string): Record<string, string | undefined> {
  if (process.env[key]) return process.env;
  return { ...envFile(dir), ...process.env };
}

function envFile(dir: string): Record<string, string> {
  try {
    const text = readFileSync(resolve(import.meta.dirname, '../..', dir, 'env'), 'utf8');
    return Object.fromEntries(
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]),
    );
  } catch {
    return {};
  }
}
