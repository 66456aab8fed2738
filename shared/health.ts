import { findConfigIssues } from './config';
import type { FieldIssue } from './errors';

/** The body of `GET /api/health`. */
export interface HealthReport {
  ok: boolean;
  /** Settings that are missing or malformed: names and reasons only, never values. */
  configIssues: FieldIssue[];
}

/** Reports whether the app's configuration parses (the live environment by default), revealing no value. */
export function checkHealth(env?: Record<string, string | undefined>): HealthReport {
  const configIssues = findConfigIssues(env);
  return { ok: configIssues.length === 0, configIssues };
}
