import { describe, expect, it } from 'vitest';

import { unsubscribesToConfirm } from '../../../shared/ui/guard';

const reason =
  'Mirror mode would unsubscribe 412 of the 1000 contacts exported last time, more than ' +
  'EXPORT_MIRROR_MAX_UNSUBSCRIBE_SHARE (10.0%); a truncated upload looks like this. Nothing was sent. ' +
  'To go ahead, start the run again with confirmUnsubscribes=412';

describe('unsubscribesToConfirm', () => {
  it('reads the count to confirm when the mirror guard stopped the run', () => {
    expect(unsubscribesToConfirm({ code: 'guard_unsubscribe_confirmation', reason })).toBe(412);
  });

  it('answers undefined when another guard or no guard stopped the run', () => {
    expect(unsubscribesToConfirm({ code: 'guard_rejected_share', reason })).toBeUndefined();
    expect(unsubscribesToConfirm({ code: undefined, reason: undefined })).toBeUndefined();
  });
});
