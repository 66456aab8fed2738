/**
 * What the run's activities and starters need, injected: storage containers, records, the runs table, the key
 * store, a way to make an ActiveCampaign client, the settings and a clock. `runDepsFromConfig` builds the real
 * ones once per process; tests pass their own.
 */
import type { ContainerClient } from '@azure/storage-blob';

import { type ActiveCampaignClient, createActiveCampaignClient } from '../adapters/activecampaign';
import { createSecretStore, type SecretStore } from '../adapters/keyvault';
import { hostContainerClient, hostTableClient, segmentContainerClient } from '../adapters/storageClients';
import type { RecordTable } from '../adapters/tables/recordTable';
import { RunStore } from '../adapters/tables/runStore';
import { createRecordStore, recordTableName } from '../adapters/tables/tableRecordStore';
import type { Config } from '../config';
import type { ConnectionRecord } from '../domain/records/connection';
import type { ExportRecord } from '../domain/records/exportDefinition';
import { runLogger, type TelemetryLogger } from '../telemetry';

/** A few log calls; an `InvocationContext` fits. Never given contact data or secrets. */
export interface RunLogger {
  log: (...args: unknown[]) => void;
  warn: (...args: unknown[]) => void;
  error: (...args: unknown[]) => void;
}

/** The run's collaborators. */
export interface RunDeps {
  config: Config;
  /** WORK_CONTAINER: run folders and snapshots. */
  work: ContainerClient;
  /** SEGMENT_CONTAINER: where segment files land. */
  segments: ContainerClient;
  records: { exports: RecordTable<ExportRecord>; connections: RecordTable<ConnectionRecord> };
  runs: RunStore;
  secrets: SecretStore;
  /** A client for one connection (the key fetched from the key store by the caller). */
  clientFor(connection: ConnectionRecord, apiKey: string, logger?: RunLogger): ActiveCampaignClient;
  now(): number;
}

/**
 * The logger of one activity execution: every line tagged `exportId=… runId=…` and redacted
 * (shared/telemetry.ts), so a run's traces can be followed in Application Insights.
 */
export function activityLogger(context: TelemetryLogger, input: unknown): RunLogger {
  const ids = input as {
    exportId?: unknown;
    runId?: unknown;
    run?: { exportId?: unknown; runId?: unknown };
  } | null;
  const exportId = ids?.exportId ?? ids?.run?.exportId;
  const runId = ids?.runId ?? ids?.run?.runId;
  if (typeof exportId !== 'string') return context;
  return runLogger(context, { exportId, ...(typeof runId === 'string' ? { runId } : {}) });
}

/** The connection's host as the ActiveCampaign client takes it. */
export function hostOf(connection: ConnectionRecord): string {
  return connection.hostname;
}

let cached: RunDeps | undefined;

/** The real collaborators for `config`, made once per process (containers are created if absent). */
export function runDepsFromConfig(config: Config): RunDeps {
  if (cached) return cached;
  const records = createRecordStore(config);
  cached = {
    config,
    work: hostContainerClient(config, config.WORK_CONTAINER),
    segments: segmentContainerClient(config),
    records: { exports: records.exports, connections: records.connections },
    runs: new RunStore(hostTableClient(config, recordTableName(config.DURABLE_TASK_HUB_NAME, 'runs'))),
    secrets: createSecretStore(config),
    clientFor: (connection, apiKey, logger) =>
      createActiveCampaignClient(
        config,
        { host: hostOf(connection), apiKey },
        logger
          ? {
              logger: {
                info: (...args: unknown[]) => logger.log(...args),
                warn: (...args: unknown[]) => logger.warn(...args),
                error: (...args: unknown[]) => logger.error(...args),
              },
            }
          : {},
      ),
    now: Date.now,
  };
  return cached;
}
