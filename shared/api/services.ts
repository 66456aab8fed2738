/**
 * What the management API's handlers use, built once from the settings and injected into every handler
 * (tests pass fakes): the record store, the API-key store, ActiveCampaign clients, segment storage, the
 * clock and the id source.
 */
import { randomUUID } from 'node:crypto';

import { createActiveCampaignClient } from '../adapters/activecampaign';
import type { ActiveCampaignList, ActiveCampaignUser } from '../adapters/activecampaign/schemas';
import { createSecretStore, type SecretStore } from '../adapters/keyvault';
import { segmentContainerClient } from '../adapters/storageClients';
import { createRecordStore, type RecordStore } from '../adapters/tables/tableRecordStore';
import { type Config, getConfig } from '../config';
import { type RunDeps, runDepsFromConfig } from '../run/deps';
import { findMissingSegments, listSegments, type SegmentSummary } from './segmentCatalog';

/** The two ActiveCampaign calls the API makes when saving. */
export interface ActiveCampaignProbe {
  verifyCredentials(): Promise<ActiveCampaignUser>;
  getList(listId: number): Promise<ActiveCampaignList>;
}

/** The management API's dependencies. */
export interface ApiServices {
  config: Config;
  records: RecordStore;
  secrets: SecretStore;
  /** A client for one account (host as the user typed it; the host rule is applied by the client). */
  activeCampaign(host: string, apiKey: string): ActiveCampaignProbe;
  segments: {
    list(): Promise<SegmentSummary[]>;
    /** The names among `names` that segment storage does not hold. */
    missing(names: readonly string[]): Promise<string[]>;
  };
  now(): Date;
  newId(): string;
  /** What the export run's routes use (built on first use). */
  readonly run: RunDeps;
}

/** The services for `config` (the app's settings by default). */
export function createApiServices(config: Config = getConfig()): ApiServices {
  const secrets = createSecretStore(config);
  const records = createRecordStore(config);
  const container = () => segmentContainerClient(config);
  return {
    config,
    records,
    secrets,
    activeCampaign: (host, apiKey) =>
      // Verification answers a person waiting on a form: two attempts and 10 s each, not a run's minute.
      createActiveCampaignClient(config, { host, apiKey }, { retry: { maxAttempts: 2 }, timeoutMs: 10_000 }),
    segments: {
      list: () => listSegments(container()),
      missing: (names) => findMissingSegments(container(), names),
    },
    now: () => new Date(),
    newId: () => randomUUID(),
    get run() {
      return runDepsFromConfig(config);
    },
  };
}

let cached: ApiServices | undefined;

/** The app's services, built on first use (so a bad setting fails the request, not the module load). */
export function getApiServices(): ApiServices {
  cached ??= createApiServices();
  return cached;
}
