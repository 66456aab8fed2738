/**
 * An export definition (the connector's "Add export"): which segments go into which ActiveCampaign list,
 * how columns map, and when it runs. Saving one never runs it.
 */
import { z } from 'zod';

import { ExportMapping } from '../segments/exportMapping';

/** `refresh`: runs on every scheduled refresh (and when its segments land); `off`: on demand only. */
export const ExportSchedule = z.enum(['refresh', 'off']);
/** `add`: add and update only; `mirror`: also unsubscribe contacts that left every selected segment. */
export const MembershipMode = z.enum(['add', 'mirror']);

/** A stored export. */
export const ExportRecord = z
  .object({
    id: z.string().min(1),
    name: z.string().min(1).max(100),
    /** Null once its connection was deleted with `?detach=true`: the export keeps its definition but cannot run. */
    connectionId: z.string().min(1).nullable(),
    listId: z.number().int().positive(),
    mapping: ExportMapping,
    segments: z.array(z.string().min(1)).min(1),
    schedule: ExportSchedule,
    membership: MembershipMode,
    createdAt: z.string(),
    createdBy: z.string(),
    updatedAt: z.string(),
    updatedBy: z.string(),
  })
  .strict();
export type ExportRecord = z.infer<typeof ExportRecord>;
