/**
 * An account's rate budget kept in an Azure Table row, so activity executions on different instances of
 * the Function App pace together. The row holds the same two-to-three "next free slot" numbers as the
 * in-process budget; a reservation is a read-modify-write guarded by the row's ETag (optimistic
 * concurrency: learn.microsoft.com/rest/api/storageservices/update-entity2 — a stale If-Match gets 412).
 */
import type { TableClient } from '@azure/data-tables';

import { statusCodeOf } from '../../errors';
import { type Clock, sleepUntil } from './clock';
import { BudgetSlotMissedError } from './errors';
import {
  type BudgetKind,
  type BudgetState,
  DEFAULT_RATE_LIMITS,
  EMPTY_BUDGET_STATE,
  intervalsOf,
  NO_PAUSE,
  pausedUntil,
  type PauseState,
  pauseState,
  type RateBudget,
  type RateLimits,
  reserveSlot,
  withPause,
} from './rateBudget';

const PARTITION = 'activecampaign-budget';
/** Reservations missed in a row before `acquire` gives up with a retryable error. */
export const MAX_MISSED_SLOTS = 10;

/** The shared row: the slots, plus the pauses every holder re-checks before it sends (0 = none). */
interface BudgetRow extends BudgetState {
  partitionKey: string;
  rowKey: string;
  pausedRequestUntil?: number;
  pausedBulkUntil?: number;
}

/** What one read of the row says. */
interface SharedState {
  slots: BudgetState;
  pauses: PauseState;
}

/** Options for `TableRateBudget`. */
export interface TableRateBudgetOptions {
  limits?: RateLimits;
  /** Give up after this many lost ETag races in a row (something is very wrong if it happens). */
  maxConflicts?: number;
}

/** A `RateBudget` shared across processes through one Azure Table row per account host. */
export class TableRateBudget implements RateBudget {
  private readonly rowKey: string;
  private readonly limits: RateLimits;
  private readonly maxConflicts: number;
  private tableReady: Promise<void> | undefined;
  /**
   * How long a reservation round trip takes (moving average, clock ms). Slots are reserved at least this far
   * ahead, so a caller does not reach its slot late and then send right before the next caller's slot.
   */
  private lead = 0;

  constructor(
    private readonly table: TableClient,
    accountHost: string,
    private readonly clock: Clock,
    options: TableRateBudgetOptions = {},
  ) {
    // Row keys may not contain / \ # ? (learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model).
    this.rowKey = encodeURIComponent(accountHost.trim().toLowerCase());
    this.limits = options.limits ?? DEFAULT_RATE_LIMITS;
    this.maxConflicts = options.maxConflicts ?? 100;
  }

  /**
   * Reserves a slot in the shared row, then sleeps until it. A slot already missed by more than the safety
   * margin when the storage round trip returns is abandoned and a new one reserved: sending late would put
   * this request right before the next holder's, a burst ActiveCampaign would count. After
   * `MAX_MISSED_SLOTS` misses in a row it throws the retryable `BudgetSlotMissedError` instead of sending
   * late anyway; the client's retry loop backs off and asks again. One round trip before its slot it reads
   * the row again and, if a pause now covers the slot, reserves again after the pause.
   *
   * Clock-skew assumption: slots are absolute times written by one instance and compared with another
   * instance's clock, so every instance's clock must agree to well within the tolerance (10% of a request
   * interval, ~22 ms at 5 requests/s). An instance whose clock runs ahead sees every slot as missed (and gets
   * BudgetSlotMissedError); one that runs behind sends early, into the previous holder's slot. Azure hosts
   * keep NTP time (skew of a few ms), which is why this is acceptable; a shared clock would not need it.
   */
  async acquire(kind: BudgetKind, signal?: AbortSignal): Promise<void> {
    const tolerance = intervalsOf(this.limits).request * (1 - this.limits.requestSafety);
    for (let missed = 0; ;) {
      const slot = await this.update(({ slots, pauses }, now) => {
        const reserved = reserveSlot(slots, kind, now + 2 * this.lead, this.limits);
        return { slot: reserved.slot, state: { slots: reserved.state, pauses } };
      });
      const late = this.clock.now() - slot;
      if (late > tolerance) {
        if (++missed >= MAX_MISSED_SLOTS) throw new BudgetSlotMissedError(kind, missed, late);
        continue;
      }
      // Re-check the shared pause one storage round trip before the slot (so the read does not make the
      // request late): another process may have been refused while this one waited. Paused past our slot:
      // the pause already moved the shared slots beyond it, so reserve again instead of being refused too.
      await sleepUntil(this.clock, slot - this.lead, signal);
      if (pausedUntil((await this.read()).state.pauses, kind) > slot) continue;
      // The read itself took longer than expected: never send late (see above), reserve again.
      const lateAfterRead = this.clock.now() - slot;
      if (lateAfterRead > tolerance) {
        if (++missed >= MAX_MISSED_SLOTS) throw new BudgetSlotMissedError(kind, missed, lateAfterRead);
        continue;
      }
      await sleepUntil(this.clock, slot, signal);
      return;
    }
  }

  /** Pushes the shared next-free slot of `scope` to at least `until`, and holds every holder's waiting slot. */
  async pause(scope: 'request' | 'bulkImport', until: number): Promise<void> {
    await this.update(({ slots, pauses }) => ({
      slot: until,
      state: { slots: pauseState(slots, scope, until), pauses: withPause(pauses, scope, until) },
    }));
  }

  /** One read of the shared row (an empty state when it does not exist yet), with its ETag. */
  private async read(): Promise<{ state: SharedState; etag: string | undefined }> {
    this.tableReady ??= this.table.createTable().catch((error: unknown) => {
      this.tableReady = undefined;
      throw error;
    });
    await this.tableReady;
    try {
      const row = await this.table.getEntity<BudgetRow>(PARTITION, this.rowKey);
      return {
        state: {
          slots: {
            nextRequestAt: row.nextRequestAt,
            nextBulkAt: row.nextBulkAt,
            nextSingleAt: row.nextSingleAt ?? 0,
          },
          pauses: { requestUntil: row.pausedRequestUntil ?? 0, bulkUntil: row.pausedBulkUntil ?? 0 },
        },
        etag: row.etag,
      };
    } catch (error) {
      if (statusCodeOf(error) !== 404) throw error;
      return { state: { slots: EMPTY_BUDGET_STATE, pauses: NO_PAUSE }, etag: undefined };
    }
  }

  private async update(
    change: (state: SharedState, now: number) => { slot: number; state: SharedState },
  ): Promise<number> {
    for (let conflicts = 0; ; conflicts++) {
      const started = this.clock.now();
      const { state: current, etag } = await this.read();
      const { slot, state } = change(current, this.clock.now());
      const row: BudgetRow = {
        partitionKey: PARTITION,
        rowKey: this.rowKey,
        ...state.slots,
        pausedRequestUntil: state.pauses.requestUntil,
        pausedBulkUntil: state.pauses.bulkUntil,
      };
      try {
        if (etag === undefined) await this.table.createEntity(row);
        else await this.table.updateEntity(row, 'Replace', { etag });
        this.lead = this.lead * 0.8 + (this.clock.now() - started) * 0.2;
        return slot;
      } catch (error) {
        // 412: another process moved the row since we read it; 409: another process created it first.
        const status = statusCodeOf(error);
        if ((status !== 412 && status !== 409) || conflicts >= this.maxConflicts) throw error;
      }
    }
  }
}
