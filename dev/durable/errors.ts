/** Errors the local Durable backend raises on purpose; part of the project's one error family. */
import { AppError } from '../../shared/errors';

/** The orchestrator scheduled something different from its history on replay (as DTFx detects). */
export class NonDeterministicOrchestrationError extends AppError {
  constructor(message: string) {
    super(`Non-Deterministic workflow detected: ${message}`, {
      code: 'durable_nondeterministic',
      status: 500,
    });
  }
}

/** A Durable feature the local backend does not implement; always loud, never silently ignored. */
export class UnsupportedDurableFeatureError extends AppError {
  constructor(feature: string) {
    super(`${feature} is not supported by the local Durable backend (dev/durable); it works only in Azure.`, {
      code: 'durable_unsupported',
      status: 501,
    });
  }
}

/** A payload (input, output, event, custom status) is larger than the configured limit. */
export class PayloadTooLargeError extends AppError {
  constructor(instanceId: string, what: string, bytes: number, limit: number) {
    super(
      `Durable payload too large: ${what} of instance '${instanceId}' is ${bytes} bytes as JSON, above the ` +
        `limit of ${limit} bytes. Keep orchestration payloads to ids, counts and blob references.`,
      { code: 'durable_payload_too_large', status: 413 },
    );
  }
}
