import { parseConfig } from './config';
import { ConfigError } from './errors';

/** The body of `GET /api/health`. */
export interface HealthReport {
  ok: boolean;
  /** Settings that are missing or malformed: names and reasons only, never values. */
  configIssues: { field: string; message: string }[];
}

/** Reports whether the app's configuration parses, without revealing any setting's value. */
export function checkHealth(env: Record<string, string | undefined> = processEnv()): HealthReport {
  try {
    parseConfig(env);
    return { ok: true, configIssues: [] };
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, configIssues: [...error.issues] };
    throw error;
  }
}

function processEnv(): Record<string, string | undefined> {
  // eslint-disable-next-line no-restricted-properties -- health re-validates the live environment on purpose
  return process.env;
}
