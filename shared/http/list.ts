/** List responses: `{ items, next }` with `next` an opaque continuation (pass it as `?continuation=`) or null. */
import { z } from 'zod';

/** The query of every list route: `limit` (1-1000, default 100) and `continuation` from a previous page. */
export const ListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  continuation: z.string().min(1).max(4096).optional(),
});
export type ListQuery = z.infer<typeof ListQuery>;

/** The zod schema of a list response of `item`. */
export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), next: z.string().nullable() });
}

/** A list response body. */
export function listBody<T>(
  items: T[],
  next: string | null | undefined,
): { items: T[]; next: string | null } {
  return { items, next: next ?? null };
}
