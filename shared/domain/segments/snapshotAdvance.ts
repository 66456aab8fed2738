/** Moving an export's snapshot forward for the contacts ActiveCampaign confirmed (the Finalise stage). */
import type { Snapshot } from './snapshot';
import { SnapshotBuilder } from './snapshotBuilder';

/**
 * Moves a snapshot forward only for confirmed contacts. `target` is what the snapshot would be had
 * ActiveCampaign confirmed everything the run planned (written by Prepare). For each email hash:
 * confirmed → the target's state (updated, added, or gone when it was unsubscribed); not confirmed → the
 * previous state, so the next run sends it again.
 */
export function advanceSnapshot(
  previousAsStored: Snapshot,
  targetAsStored: Snapshot,
  isConfirmed: (emailHi: number, emailLo: number) => boolean,
): Snapshot {
  const previous = previousAsStored.inHashOrder();
  const target = targetAsStored.inHashOrder();
  // A merge of two sorted lists: entries arrive in hash order, so `build` skips the sort.
  const builder = new SnapshotBuilder(
    Math.max(previous.count, target.count),
    Math.max(previous.emailOffsets[previous.count]!, target.emailOffsets[target.count]!),
  );
  let i = 0;
  let j = 0;
  while (i < previous.count || j < target.count) {
    const cmp =
      i >= previous.count
        ? 1
        : j >= target.count
          ? -1
          : previous.emailHi[i] !== target.emailHi[j]
            ? previous.emailHi[i]! - target.emailHi[j]!
            : previous.emailLo[i]! - target.emailLo[j]!;
    if (cmp < 0) {
      // Only in the previous snapshot: a planned unsubscribe. Dropped once confirmed.
      if (!isConfirmed(previous.emailHi[i]!, previous.emailLo[i]!)) builder.addFrom(previous, i);
      i++;
    } else if (cmp > 0) {
      // Only in the target: a planned add. Kept once confirmed.
      if (isConfirmed(target.emailHi[j]!, target.emailLo[j]!)) builder.addFrom(target, j);
      j++;
    } else {
      // In both: the new content once confirmed, else the old one.
      if (isConfirmed(target.emailHi[j]!, target.emailLo[j]!)) builder.addFrom(target, j);
      else builder.addFrom(previous, i);
      i++;
      j++;
    }
  }
  return builder.build();
}
