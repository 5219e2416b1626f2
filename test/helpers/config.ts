/** The problems parseConfig reports for an environment (none: an empty list); other errors are thrown. */
import { ConfigError, parseConfig } from '../../src/config/index.js';

export function configProblems(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}
