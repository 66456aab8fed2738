/**
 * Key Vault's wire shapes for the secrets API, as `@azure/keyvault-secrets` 4.x sends and reads them
 * (its generated `models/models.js`: `secretSetParametersSerializer`, `secretBundleDeserializer`, ...),
 * and the emulator's persistence file. Times on the wire are Unix seconds.
 * Reference: https://learn.microsoft.com/rest/api/keyvault/secrets
 */
import { z } from 'zod';

/** `nbf`/`exp`/`enabled` as a client may send them. */
export const secretAttributesInSchema = z
  .object({
    enabled: z.boolean().optional(),
    nbf: z.number().int().optional(),
    exp: z.number().int().optional(),
  })
  .loose();

/** Tags: at most 15, names ≤ 512 and values ≤ 256 characters (Key Vault service limits). */
const tagsSchema = z
  .record(z.string().max(512), z.string().max(256))
  .refine((tags) => Object.keys(tags).length <= 15, 'at most 15 tags');

/** Body of `PUT /secrets/{name}`. */
export const secretSetParametersSchema = z.object({
  value: z.string(),
  contentType: z.string().max(255).optional(),
  attributes: secretAttributesInSchema.optional(),
  tags: tagsSchema.optional(),
});
export type SecretSetParameters = z.infer<typeof secretSetParametersSchema>;

/** Body of `PATCH /secrets/{name}/{version}`. */
export const secretUpdateParametersSchema = z.object({
  contentType: z.string().max(255).optional(),
  attributes: secretAttributesInSchema.optional(),
  tags: tagsSchema.optional(),
});
export type SecretUpdateParameters = z.infer<typeof secretUpdateParametersSchema>;

/** Body of `POST /secrets/restore`: a backup blob as returned by `POST /secrets/{name}/backup`. */
export const secretRestoreParametersSchema = z.object({ value: z.string().min(1) });

/** One stored version of a secret. */
export const storedVersionSchema = z.object({
  version: z.string(),
  value: z.string(),
  contentType: z.string().optional(),
  tags: z.record(z.string(), z.string()).optional(),
  enabled: z.boolean(),
  nbf: z.number().optional(),
  exp: z.number().optional(),
  created: z.number(),
  updated: z.number(),
});
export type StoredVersion = z.infer<typeof storedVersionSchema>;

/** A secret: its name as first written and its versions, oldest first. */
export const storedSecretSchema = z.object({
  name: z.string(),
  versions: z.array(storedVersionSchema).min(1),
});
export type StoredSecret = z.infer<typeof storedSecretSchema>;

/** A soft-deleted secret awaiting recovery or purge. */
export const storedDeletedSecretSchema = z.object({
  secret: storedSecretSchema,
  deletedDate: z.number(),
  scheduledPurgeDate: z.number(),
  /** Emulates Key Vault's asynchronous delete: until then the secret is "being deleted" (ms since epoch). */
  visibleAtMs: z.number(),
});
export type StoredDeletedSecret = z.infer<typeof storedDeletedSecretSchema>;

/** The persistence file (`--data`), and the content of a backup blob. */
export const vaultSnapshotSchema = z.object({
  secrets: z.array(storedSecretSchema),
  deleted: z.array(storedDeletedSecretSchema),
});
export type VaultSnapshot = z.infer<typeof vaultSnapshotSchema>;

/** `SecretAttributes` as Key Vault returns them. */
export interface SecretAttributesOut {
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
  recoveryLevel: string;
  recoverableDays: number;
}

/** `SecretItem`: one entry of a list page (no value). */
export interface SecretItemOut {
  id: string;
  attributes: SecretAttributesOut;
  contentType?: string;
  tags?: Record<string, string>;
}

/** `SecretBundle`: a secret version; `value` is present only on get and set. */
export interface SecretBundleOut extends SecretItemOut {
  value?: string;
}

/** The extra fields of `DeletedSecretBundle` / `DeletedSecretItem`. */
export interface DeletedFieldsOut {
  recoveryId: string;
  deletedDate: number;
  scheduledPurgeDate: number;
}

/** A list page: `nextLink` is an absolute URL, or null on the last page. */
export interface ListPageOut<T> {
  value: T[];
  nextLink: string | null;
}

/** Key Vault's error body: `{"error":{"code":"SecretNotFound","message":"..."}}`. */
export interface KeyVaultErrorOut {
  error: { code: string; message: string; innererror?: { code: string } };
}

/** Recovery level of a vault with soft delete and no purge protection (the default for new vaults). */
export const RECOVERY_LEVEL = 'Recoverable+Purgeable';

/** Maps a stored version to the wire `attributes` object. */
export function toAttributes(version: StoredVersion, recoverableDays: number): SecretAttributesOut {
  return {
    enabled: version.enabled,
    ...(version.nbf === undefined ? {} : { nbf: version.nbf }),
    ...(version.exp === undefined ? {} : { exp: version.exp }),
    created: version.created,
    updated: version.updated,
    recoveryLevel: RECOVERY_LEVEL,
    recoverableDays,
  };
}

/** Maps a stored version to a `SecretBundle` (with or without its value) under `vaultUrl`. */
export function toSecretBundle(
  vaultUrl: string,
  name: string,
  version: StoredVersion,
  recoverableDays: number,
  withValue: boolean,
): SecretBundleOut {
  return {
    ...(withValue ? { value: version.value } : {}),
    id: `${vaultUrl}/secrets/${name}/${version.version}`,
    attributes: toAttributes(version, recoverableDays),
    ...(version.contentType === undefined ? {} : { contentType: version.contentType }),
    ...(version.tags === undefined ? {} : { tags: version.tags }),
  };
}

/** Maps a secret (its latest version) or one of its versions to a list `SecretItem`. */
export function toSecretItem(
  vaultUrl: string,
  name: string,
  version: StoredVersion,
  recoverableDays: number,
  withVersionInId: boolean,
): SecretItemOut {
  const { value: _value, ...bundle } = toSecretBundle(vaultUrl, name, version, recoverableDays, false);
  return withVersionInId ? bundle : { ...bundle, id: `${vaultUrl}/secrets/${name}` };
}

/** The deleted-secret fields for `deleted` under `vaultUrl`. */
export function toDeletedFields(vaultUrl: string, deleted: StoredDeletedSecret): DeletedFieldsOut {
  return {
    recoveryId: `${vaultUrl}/deletedsecrets/${deleted.secret.name}`,
    deletedDate: deleted.deletedDate,
    scheduledPurgeDate: deleted.scheduledPurgeDate,
  };
}
