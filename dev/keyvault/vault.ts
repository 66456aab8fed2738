/**
 * The emulator's vault: secrets with versions, soft delete, recover and purge, with Key Vault's rules
 * (https://learn.microsoft.com/azure/key-vault/secrets/about-secrets,
 * https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview). No HTTP here: operations
 * return wire shapes or throw `VaultError`, which the server turns into Key Vault's error body.
 */
import { randomUUID } from 'node:crypto';

import {
  type DeletedFieldsOut,
  type SecretBundleOut,
  type SecretItemOut,
  type SecretSetParameters,
  type SecretUpdateParameters,
  type StoredDeletedSecret,
  type StoredSecret,
  type StoredVersion,
  toDeletedFields,
  toSecretBundle,
  toSecretItem,
  type VaultSnapshot,
  vaultSnapshotSchema,
} from './wire';

/** A Key Vault error: HTTP status plus Key Vault's error code and message. */
export class VaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
  ) {
    super(message);
    this.name = 'VaultError';
  }
}

export interface VaultOptions {
  /** The vault's base URL, used in every `id` (e.g. `https://127.0.0.1:8443`). */
  vaultUrl: string;
  /** Milliseconds since epoch; injectable so tests can move time. */
  now?: () => number;
  /** Days a deleted secret stays recoverable before Key Vault purges it (7-90; default 90). */
  recoverableDays?: number;
  /** How long a delete takes to show under /deletedsecrets (Key Vault deletes asynchronously). Default 0. */
  softDeleteDelayMs?: number;
  /** Called after every change, e.g. to persist a snapshot. */
  onChange?: (snapshot: VaultSnapshot) => void;
}

/** Secret names: 1-127 letters, digits and dashes; compared case-insensitively. */
const NAME = /^[0-9a-zA-Z-]{1,127}$/;
/** Key Vault's limit on a secret value. */
const MAX_VALUE_BYTES = 25 * 1024;

/** In-memory vault state and the secrets operations over it. */
export class Vault {
  private readonly secrets = new Map<string, StoredSecret>();
  private readonly deleted = new Map<string, StoredDeletedSecret>();
  private readonly now: () => number;
  private readonly recoverableDays: number;
  private readonly softDeleteDelayMs: number;

  constructor(
    private readonly options: VaultOptions,
    snapshot?: VaultSnapshot,
  ) {
    this.now = options.now ?? Date.now;
    this.recoverableDays = options.recoverableDays ?? 90;
    this.softDeleteDelayMs = options.softDeleteDelayMs ?? 0;
    for (const secret of snapshot?.secrets ?? []) this.secrets.set(key(secret.name), secret);
    for (const entry of snapshot?.deleted ?? []) this.deleted.set(key(entry.secret.name), entry);
  }

  /** Everything stored, for persistence and backups. */
  snapshot(): VaultSnapshot {
    return vaultSnapshotSchema.parse({
      secrets: [...this.secrets.values()],
      deleted: [...this.deleted.values()],
    });
  }

  /** `PUT /secrets/{name}`: adds a new version (creating the secret if needed). */
  set(name: string, params: SecretSetParameters): SecretBundleOut {
    checkName(name);
    if (Buffer.byteLength(params.value, 'utf8') > MAX_VALUE_BYTES) {
      throw new VaultError(
        400,
        'BadParameter',
        `Secret value exceeds the maximum size of ${MAX_VALUE_BYTES} bytes.`,
      );
    }
    this.refuseIfDeleted(name);
    const seconds = this.seconds();
    const version: StoredVersion = {
      version: randomUUID().replace(/-/g, ''),
      value: params.value,
      contentType: params.contentType,
      tags: params.tags,
      enabled: params.attributes?.enabled ?? true,
      nbf: params.attributes?.nbf,
      exp: params.attributes?.exp,
      created: seconds,
      updated: seconds,
    };
    const existing = this.secrets.get(key(name));
    const secret = existing ?? { name, versions: [] };
    secret.versions.push(version);
    this.secrets.set(key(name), secret);
    this.changed();
    return this.bundle(secret, version, true);
  }

  /** `GET /secrets/{name}/{version?}`: the version, or the latest when `version` is empty. */
  get(name: string, version: string): SecretBundleOut {
    const secret = this.requireSecret(name);
    const found = this.requireVersion(secret, version);
    if (!found.enabled) {
      throw new VaultError(
        403,
        'Forbidden',
        'Operation get is not allowed on a disabled secret.',
        'SecretDisabled',
      );
    }
    return this.bundle(secret, found, true);
  }

  /** `PATCH /secrets/{name}/{version?}`: changes attributes, content type and tags (never the value). */
  update(name: string, version: string, params: SecretUpdateParameters): SecretBundleOut {
    const secret = this.requireSecret(name);
    const found = this.requireVersion(secret, version);
    if (params.contentType !== undefined) found.contentType = params.contentType;
    if (params.tags !== undefined) found.tags = params.tags;
    if (params.attributes?.enabled !== undefined) found.enabled = params.attributes.enabled;
    if (params.attributes?.nbf !== undefined) found.nbf = params.attributes.nbf;
    if (params.attributes?.exp !== undefined) found.exp = params.attributes.exp;
    found.updated = this.seconds();
    this.changed();
    return this.bundle(secret, found, false);
  }

  /** `GET /secrets`: each secret once, as its latest version's item, ordered by name. */
  listSecrets(): SecretItemOut[] {
    return [...this.secrets.values()]
      .sort((a, b) => key(a.name).localeCompare(key(b.name)))
      .map((secret) => toSecretItem(this.url, secret.name, latest(secret), this.recoverableDays, false));
  }

  /** `GET /secrets/{name}/versions`: every version, oldest first. */
  listVersions(name: string): SecretItemOut[] {
    // An unknown name lists as empty rather than 404 (our reading of Key Vault; the REST reference does not say).
    const secret = this.secrets.get(key(name));
    return (secret?.versions ?? []).map((v) =>
      toSecretItem(this.url, secret!.name, v, this.recoverableDays, true),
    );
  }

  /** `DELETE /secrets/{name}`: soft-deletes every version; returns the `DeletedSecretBundle`. */
  delete(name: string): SecretBundleOut & DeletedFieldsOut {
    const secret = this.requireSecret(name);
    const seconds = this.seconds();
    const entry: StoredDeletedSecret = {
      secret,
      deletedDate: seconds,
      scheduledPurgeDate: seconds + this.recoverableDays * 86_400,
      visibleAtMs: this.now() + this.softDeleteDelayMs,
    };
    this.secrets.delete(key(name));
    this.deleted.set(key(name), entry);
    this.changed();
    return { ...this.bundle(secret, latest(secret), false), ...toDeletedFields(this.url, entry) };
  }

  /** `GET /deletedsecrets/{name}`. */
  getDeleted(name: string): SecretBundleOut & DeletedFieldsOut {
    const entry = this.requireDeleted(name);
    return { ...this.bundle(entry.secret, latest(entry.secret), false), ...toDeletedFields(this.url, entry) };
  }

  /** `GET /deletedsecrets`: deleted secrets whose deletion has completed, ordered by name. */
  listDeleted(): (SecretItemOut & DeletedFieldsOut)[] {
    this.expirePurges();
    const now = this.now();
    return [...this.deleted.values()]
      .filter((entry) => entry.visibleAtMs <= now)
      .sort((a, b) => key(a.secret.name).localeCompare(key(b.secret.name)))
      .map((entry) => ({
        ...toSecretItem(this.url, entry.secret.name, latest(entry.secret), this.recoverableDays, false),
        ...toDeletedFields(this.url, entry),
      }));
  }

  /** `DELETE /deletedsecrets/{name}`: removes a deleted secret for good. */
  purge(name: string): void {
    this.requireDeleted(name);
    this.deleted.delete(key(name));
    this.changed();
  }

  /** `POST /deletedsecrets/{name}/recover`: restores a deleted secret with all its versions. */
  recover(name: string): SecretBundleOut {
    const entry = this.requireDeleted(name);
    if (this.secrets.has(key(name))) {
      throw new VaultError(409, 'Conflict', `Secret ${name} already exists.`);
    }
    this.deleted.delete(key(name));
    this.secrets.set(key(name), entry.secret);
    this.changed();
    return this.bundle(entry.secret, latest(entry.secret), false);
  }

  /** `POST /secrets/{name}/backup`: an opaque blob (base64url JSON here; encrypted in Key Vault). */
  backup(name: string): { value: string } {
    const secret = this.requireSecret(name);
    return { value: Buffer.from(JSON.stringify(secret), 'utf8').toString('base64url') };
  }

  /** `POST /secrets/restore`: brings back a backed-up secret unless its name is taken. */
  restore(blob: string): SecretBundleOut {
    let secret: StoredSecret;
    try {
      secret = vaultSnapshotSchema.shape.secrets.element.parse(
        JSON.parse(Buffer.from(blob, 'base64url').toString('utf8')),
      );
    } catch {
      throw new VaultError(400, 'BadParameter', 'Backup blob contains invalid or corrupt data.');
    }
    checkName(secret.name);
    this.refuseIfDeleted(secret.name);
    if (this.secrets.has(key(secret.name))) {
      throw new VaultError(409, 'Conflict', `Secret ${secret.name} already exists.`);
    }
    this.secrets.set(key(secret.name), secret);
    this.changed();
    return this.bundle(secret, latest(secret), false);
  }

  private get url(): string {
    return this.options.vaultUrl;
  }

  private seconds(): number {
    return Math.floor(this.now() / 1000);
  }

  private bundle(secret: StoredSecret, version: StoredVersion, withValue: boolean): SecretBundleOut {
    return toSecretBundle(this.url, secret.name, version, this.recoverableDays, withValue);
  }

  private changed(): void {
    this.options.onChange?.(this.snapshot());
  }

  private requireSecret(name: string): StoredSecret {
    checkName(name);
    const secret = this.secrets.get(key(name));
    if (!secret) {
      throw new VaultError(
        404,
        'SecretNotFound',
        `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command.`,
      );
    }
    return secret;
  }

  private requireVersion(secret: StoredSecret, version: string): StoredVersion {
    if (version === '') return latest(secret);
    const found = secret.versions.find((v) => v.version === version.toLowerCase());
    if (!found) {
      throw new VaultError(
        404,
        'SecretNotFound',
        `A secret with (name/id) ${secret.name}/${version} was not found in this key vault.`,
      );
    }
    return found;
  }

  private requireDeleted(name: string): StoredDeletedSecret {
    checkName(name);
    this.expirePurges();
    const entry = this.deleted.get(key(name));
    if (!entry) throw new VaultError(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
    if (entry.visibleAtMs > this.now()) {
      // Key Vault answers 404 until an asynchronous delete completes; the SDK's delete poller relies on it.
      throw new VaultError(404, 'SecretNotFound', `Deleted Secret not found: ${name} (deletion in progress)`);
    }
    return entry;
  }

  private refuseIfDeleted(name: string): void {
    this.expirePurges();
    if (this.deleted.has(key(name))) {
      throw new VaultError(
        409,
        'Conflict',
        `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
      );
    }
  }

  /** Key Vault purges deleted secrets itself once `scheduledPurgeDate` passes. */
  private expirePurges(): void {
    const seconds = this.seconds();
    let purged = false;
    for (const [name, entry] of this.deleted) {
      if (entry.scheduledPurgeDate <= seconds) {
        this.deleted.delete(name);
        purged = true;
      }
    }
    if (purged) this.changed();
  }
}

function key(name: string): string {
  return name.toLowerCase();
}

function latest(secret: StoredSecret): StoredVersion {
  return secret.versions[secret.versions.length - 1]!;
}

function checkName(name: string): void {
  if (!NAME.test(name)) {
    throw new VaultError(
      400,
      'BadParameter',
      `The request URI contains an invalid name: ${name.slice(0, 150)}. Secret names may contain only 0-9, a-z, A-Z and -, up to 127 characters.`,
    );
  }
}
