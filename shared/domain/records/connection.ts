/**
 * A connection to one ActiveCampaign account (the connector's "Add connection"): what the records table
 * holds. The API key is never part of it: it lives in Key Vault under `secretName`.
 */
import { z } from 'zod';

/** The only connection type this app knows. */
export const CONNECTION_TYPE = 'ActiveCampaign';

/** A stored connection. */
export const ConnectionRecord = z
  .object({
    id: z.string().min(1),
    type: z.literal(CONNECTION_TYPE),
    displayName: z.string().min(1).max(100),
    /** Host name only (`account.api-us1.com`), or `127.0.0.1:<port>` / `localhost:<port>` in local development. */
    hostname: z.string().min(1),
    /** Contributors may use the connection (admins always may). */
    allowContributors: z.boolean(),
    /** The Key Vault secret holding the API key; never the key itself. */
    secretName: z.string().min(1),
    /** Who created the connection: the export user recorded by the connector. */
    exportUser: z.string().min(1),
    /** When the data-privacy consent was given, and by whom. */
    dataPrivacyAcceptedAt: z.string(),
    dataPrivacyAcceptedBy: z.string(),
    /** When the key and host were last verified against ActiveCampaign (`GET /api/3/users/me`). */
    lastVerifiedAt: z.string().optional(),
    createdAt: z.string(),
    createdBy: z.string(),
    updatedAt: z.string(),
    updatedBy: z.string(),
  })
  .strict();
export type ConnectionRecord = z.infer<typeof ConnectionRecord>;
