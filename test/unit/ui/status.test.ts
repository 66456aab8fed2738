import { describe, expect, it } from 'vitest';

import { runStatusWords } from '../../../shared/ui/status';

describe('runStatusWords', () => {
  it('puts every run status in words when the page shows it', () => {
    expect(runStatusWords('running')).toBe('Running');
    expect(runStatusWords('succeeded')).toBe('Succeeded');
    expect(runStatusWords('succeededWithRejections')).toBe('Succeeded with rejections');
    expect(runStatusWords('failed')).toBe('Failed');
    expect(runStatusWords('canceled')).toBe('Canceled');
  });
});
