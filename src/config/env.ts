import { readFileSync } from 'node:fs';
import { parse } from 'dotenv';

export type Env = Readonly<Record<string, string | undefined>>;

/** The prefix of a location's variables: `STORAGE_<LOC>_`. */
export const locationPrefix = (name: string): string => `STORAGE_${name.trim().toUpperCase()}_`;

export interface EnvironmentResult {
  env: Env;
  problems: string[];
}

/**
 * The process environment merged over the `.env` file (the process wins, as with
 * Directus), with every `<NAME>_FILE` variable replaced by the file's content as `<NAME>`.
 */
export function readEnvironment(processEnv: Env = process.env, isSetting: (name: string) => boolean = () => true): EnvironmentResult {
  const problems: string[] = [];
  const envPath = processEnv.CONFIG_PATH || '.env';
  let fromFile: Record<string, string> = {};
  try {
    fromFile = parse(readFileSync(envPath));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A missing default .env is normal; a missing explicit CONFIG_PATH is a mistake.
    if (code !== 'ENOENT' || processEnv.CONFIG_PATH) {
      problems.push(`CONFIG_PATH=${JSON.stringify(envPath)}: cannot read the file (${code ?? String(error)})`);
    }
  }
  const env: Record<string, string | undefined> = { ...fromFile, ...processEnv };
  for (const [name, path] of Object.entries(env)) {
    if (!name.endsWith('_FILE') || name === 'CONFIG_PATH' || !path) continue;
    const target = name.slice(0, -'_FILE'.length);
    // Other programs' variables (TF_CLI_CONFIG_FILE, ...) are not ours to read.
    if (!isSetting(target)) continue;
    if (env[target] !== undefined && env[target] !== '') {
      problems.push(`${name}: ${target} is also set; set only one of them`);
      continue;
    }
    try {
      env[target] = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      problems.push(
        `${name}=${JSON.stringify(path)}: cannot read the secret file (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      );
    }
  }
  return { env: Object.freeze(env), problems };
}
