import { describe, expect, it } from 'vitest';

import { checkHealth } from '../../shared/health';

describe('checkHealth', () => {
  it('reports ok when the configuration parses', () => {
    expect(checkHealth({})).toEqual({ ok: true, configIssues: [] });
  });

  it('names bad settings without their values when the configuration is invalid', () => {
    const report = checkHealth({ EXPORT_PROFILE_CAP: 'lots-of-secret-text' });
    expect(report.ok).toBe(false);
    expect(report.configIssues.map((i) => i.field)).toEqual(['EXPORT_PROFILE_CAP']);
    expect(JSON.stringify(report)).not.toContain('lots-of-secret-text');
  });
});
