/** How errors and values become the JSON texts and `FailureDetails` that history records. */
import type { FailureDetails } from './history';

/** A value as the JSON text history stores, or undefined for undefined (nothing recorded). */
export function jsonText(value: unknown): string | undefined {
  return value === undefined ? undefined : JSON.stringify(value);
}

/** The `FailureDetails` of a thrown value, as the extension records a failed activity or orchestrator. */
export function errorDetails(error: unknown): FailureDetails {
  if (error instanceof Error) {
    // An activity failure may carry a FailureDetails JSON in its message when the app registered an
    // exception properties provider (lib/src/app.js wrapActivityHandler).
    try {
      const parsed = JSON.parse(error.message) as Record<string, unknown>;
      if (parsed && typeof parsed.errorType === 'string' && typeof parsed.errorMessage === 'string') {
        return {
          ErrorType: parsed.errorType,
          ErrorMessage: parsed.errorMessage,
          ...(typeof parsed.stackTrace === 'string' ? { StackTrace: parsed.stackTrace } : {}),
          ...(parsed.properties && typeof parsed.properties === 'object'
            ? { Properties: parsed.properties as Record<string, unknown> }
            : {}),
        };
      }
    } catch {
      // Not JSON: a plain error.
    }
    return {
      ErrorType: error.name || 'Error',
      ErrorMessage: error.message,
      ...(error.stack ? { StackTrace: error.stack } : {}),
    };
  }
  return { ErrorType: 'Error', ErrorMessage: String(error) };
}
