/**
 * Every setting the app reads, parsed once with zod. `process.env` is read here and nowhere else.
 * A bad environment fails with one error that lists every missing or malformed setting.
 */
import { z } from 'zod';

import { ConfigError, type FieldIssue } from './errors';

const DEFAULT_ALLOWED_HOST_SUFFIXES = ['.api-us1.com', '.api-eu1.com', '.activehosted.com'];

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const share = (fallback: number) => z.coerce.number().min(0).max(1).default(fallback);
const positiveNumber = (fallback: number) => z.coerce.number().positive().default(fallback);
const flag = z
  .enum(['true', 'false', '1', '0', ''])
  .default('false')
  .transform((v) => v === 'true' || v === '1');
const list = (fallback: string[]) =>
  z
    .string()
    .optional()
    .transform((v) =>
      v === undefined || v.trim() === ''
        ? fallback
        : v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
    );

const envSchema = z
  .object({
    /** The Functions host's own storage (Durable history, records tables, the work container): a connection string. */
    AzureWebJobsStorage: z.string().min(1).optional(),
    /** The same account, identity-based (Azure): its name; blob/table/queue endpoints are derived from it. */
    AzureWebJobsStorage__accountName: z
      .string()
      .regex(/^[a-z0-9]{3,24}$/, 'must be a storage account name (3-24 lower-case letters or digits)')
      .optional(),
    /** Client id of the user-assigned managed identity for identity-based storage connections. */
    AzureWebJobsStorage__clientId: z.string().min(1).optional(),
    /** Client id of the user-assigned managed identity the app uses for Key Vault and segment storage. */
    AZURE_CLIENT_ID: z.string().min(1).optional(),
    /** Where segment files land: a connection string, or an account URL used with managed identity. */
    SEGMENT_STORAGE_CONNECTION_STRING: z.string().min(1).optional(),
    SEGMENT_STORAGE_ACCOUNT_URL: z.url().optional(),
    SEGMENT_CONTAINER: z.string().min(3).max(63).default('customer-insights'),
    /** Customer Insights asks for Private Link on its storage; unsupported with bring-your-own storage. */
    SEGMENT_STORAGE_PRIVATE_LINK: flag,
    /** Container for run folders: staged slices, rejected rows, reports, snapshots. */
    WORK_CONTAINER: z.string().min(3).max(63).default('segment-export-work'),
    EXPORT_PROFILE_CAP: positiveInt(1_000_000),
    EXPORT_SCHEDULE: z.string().min(1).default('0 0 2 * * *'),
    /** A run whose rejected rows (duplicates aside) exceed this share of all rows stops before sending. */
    EXPORT_MAX_REJECTED_SHARE: share(0.5),
    /** Mirror mode: unsubscribing more than this share of the previous snapshot needs an explicit confirmation. */
    EXPORT_MIRROR_MAX_UNSUBSCRIBE_SHARE: share(0.1),
    /** Push activities in flight per run (they share the account's budget; a few keep it busy). */
    EXPORT_PUSH_WINDOW: positiveInt(3),
    /** First `import/info` look after a push, and the longest wait between looks. */
    EXPORT_POLL_FIRST_MS: positiveInt(2_000),
    EXPORT_POLL_MAX_MS: positiveInt(30_000),
    /** A batch still pending after this long is given up; its contacts are reported and sent next run. */
    EXPORT_RECONCILE_DEADLINE_MS: positiveInt(3_600_000),
    /** Resubmissions of a `failed`/`interrupted` batch before its contacts are reported failed. */
    EXPORT_MAX_RESUBMITS: z.coerce.number().int().min(0).max(10).default(3),
    ACTIVECAMPAIGN_REQUESTS_PER_SECOND: positiveNumber(5),
    ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE: positiveNumber(100),
    ACTIVECAMPAIGN_SINGLE_IMPORTS_PER_MINUTE: positiveNumber(20),
    ACTIVECAMPAIGN_ALLOWED_HOST_SUFFIXES: list(DEFAULT_ALLOWED_HOST_SUFFIXES),
    /**
     * Benchmarks and tests against the time-scaled sandbox only: the client's clock runs this many times
     * faster (Retry-After, the bulk minute, timeouts), so budgets stay in ActiveCampaign's real units.
     */
    ACTIVECAMPAIGN_TIME_SCALE: positiveNumber(1),
    /** Local development only: allows plain http to loopback ActiveCampaign hosts (the sandbox). */
    ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP: flag,
    KEY_VAULT_URL: z.url().optional(),
    DURABLE_TASK_HUB_NAME: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9]{2,49}$/, 'must be 3-50 letters or digits, starting with a letter')
      .default('SegmentExport'),
    /** Local development identity mode: trusts a local admin instead of App Service Authentication. */
    LOCAL_DEV_MODE: flag,
  })
  .superRefine((env, ctx) => {
    if (env.ACTIVECAMPAIGN_TIME_SCALE !== 1 && !env.ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP) {
      ctx.addIssue({
        code: 'custom',
        path: ['ACTIVECAMPAIGN_TIME_SCALE'],
        message:
          'a time scale other than 1 is for the local sandbox only (needs ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP)',
      });
    }
    const endpoint =
      env.SEGMENT_STORAGE_ACCOUNT_URL ??
      /BlobEndpoint=([^;]+)/i.exec(env.SEGMENT_STORAGE_CONNECTION_STRING ?? '')?.[1] ??
      '';
    if (env.SEGMENT_STORAGE_PRIVATE_LINK || /\.privatelink\./i.test(endpoint)) {
      ctx.addIssue({
        code: 'custom',
        path: [
          env.SEGMENT_STORAGE_PRIVATE_LINK ? 'SEGMENT_STORAGE_PRIVATE_LINK' : 'SEGMENT_STORAGE_ACCOUNT_URL',
        ],
        message:
          'Private Link combined with bring-your-own segment storage is not supported; use a storage endpoint reachable without Private Link',
      });
    }
  });

/** The parsed, typed settings. */
export type Config = z.infer<typeof envSchema>;

/** The name of one setting `shared/config.ts` reads. */
export type ConfigSettingName = keyof Config;

/** Every setting name the app reads, in schema order (the deployment template is tested against it). */
export const CONFIG_SETTING_NAMES = Object.keys(envSchema.shape) as readonly ConfigSettingName[];

/**
 * How a setting behaves when it is absent: `required` fails the parse, `defaulted` takes its default,
 * `optional` stays unset (the code that needs it names it when it is missing).
 */
export type ConfigSettingKind = 'required' | 'defaulted' | 'optional';

/** Whether the setting `name` is required, has a default, or is optional (decided by its schema). */
export function configSettingKind(name: ConfigSettingName): ConfigSettingKind {
  const result = envSchema.shape[name].safeParse(undefined);
  if (!result.success) return 'required';
  return result.data === undefined ? 'optional' : 'defaulted';
}

/** Parses `env` into a `Config`, or throws one `ConfigError` naming every bad setting. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const result = envSchema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => ({
      field: issue.path.map(String).join('.') || '(environment)',
      message: issue.message,
    })),
  );
}

/** Every problem with `env` as a setting, without throwing; names and reasons only, never values. */
export function findConfigIssues(env: Record<string, string | undefined> = process.env): FieldIssue[] {
  try {
    parseConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues];
    throw error;
  }
}

let cached: Config | undefined;

/** The app's settings from `process.env`, parsed on first use. */
export function getConfig(): Config {
  cached ??= parseConfig(process.env);
  return cached;
}
