import { describe, expect, it } from 'vitest';

import { newRunId, type RunRecord } from '../../../shared/adapters/tables/runStore';
import { toPlanCounts } from '../../../shared/run/prepare';
import { failureCode } from '../../../shared/run/report';
import { toRunView } from '../../../shared/run/runView';
import { classifyLandedBlob } from '../../../shared/run/segmentsLanded';

const RUNNING: RunRecord = {
  runId: 'r0000000000000001',
  exportId: 'e1',
  trigger: 'http',
  dryRun: false,
  fullResync: false,
  requestedBy: 'ann',
  startedAt: '2026-12-04T10:00:00.000Z',
  status: 'running',
};

describe('newRunId', () => {
  it('sorts newer runs first when compared as strings, as table rows are listed', () => {
    const ids = [0, 1, 1_000, 86_400_000].map((dt) => newRunId(1_800_000_000_000 + dt, () => 0.5));
    expect([...ids].sort()).toEqual([...ids].reverse());
    expect(ids.every((id) => /^r[0-9a-z]{13}$/.test(id))).toBe(true);
  });
});

describe('toPlanCounts', () => {
  it('counts duplicates apart from rejected rows so that rows = valid + rejected + duplicates', () => {
    const counts = toPlanCounts({
      rows: 10,
      contacts: 6,
      rejected: 4,
      rejectedByReason: { duplicate: 1, invalid_email: 2, missing_email: 1 },
      added: 4,
      changed: 1,
      unchanged: 1,
      removed: 0,
      toUpsert: 5,
      toUnsubscribe: 0,
      requests: 1,
      slices: 1,
    });
    expect(counts).toMatchObject({ rows: 10, valid: 6, rejected: 3, duplicates: 1, toSend: 5 });
    expect(counts.rows).toBe(counts.valid + counts.rejected + counts.duplicates);
    expect(counts.valid).toBe(counts.unchanged + counts.toSend);
    expect(counts.rejectedByReason).toEqual({ invalid_email: 2, missing_email: 1 });
  });
});

describe('toRunView', () => {
  it('derives percent, rate and ETA from the progress while a run is pushing', () => {
    const view = toRunView(
      RUNNING,
      {
        stage: 'pushing',
        total: 1_000,
        slices: 2,
        slicesPushed: 1,
        slicesReconciled: 1,
        confirmed: 240,
        failed: 10,
        pushStartedAt: '2026-12-04T10:00:10.000Z',
        updatedAt: '2026-12-04T10:00:20.000Z',
      },
      Date.parse('2026-12-04T10:00:20.000Z'),
      'http://h',
    );
    expect(view.stage).toBe('pushing');
    expect(view.progress).toMatchObject({
      total: 1_000,
      confirmed: 240,
      failed: 10,
      percent: 25,
      ratePerSecond: 25,
      etaSeconds: 30,
    });
    expect(view.links.report).toBe('http://h/api/exports/e1/runs/r0000000000000001/report');
  });

  it('shows a finished run as done at 100% from its counts, whatever the last custom status said', () => {
    const view = toRunView(
      {
        ...RUNNING,
        status: 'succeeded',
        counts: { sent: 8, confirmed: 7, failed: 1, unsubscribed: 2, unsubscribeFailed: 0 },
      },
      { stage: 'pushing', slicesPushed: 0, slicesReconciled: 0, confirmed: 0, failed: 0, updatedAt: 'x' },
      0,
      'http://h',
    );
    expect(view).toMatchObject({
      stage: 'done',
      progress: { total: 10, confirmed: 9, failed: 1, percent: 100, etaSeconds: 0 },
    });
  });

  it('reports a queued run without progress when there is no custom status yet', () => {
    expect(toRunView(RUNNING, undefined, 0, 'http://h')).toMatchObject({
      stage: 'queued',
      progress: { total: null, percent: null, ratePerSecond: null, etaSeconds: null },
    });
  });
});

describe('classifyLandedBlob', () => {
  it.each([
    ['CustomerInsights_contoso/Export/model.json', 'model'],
    ['customerinsights_x/E/model.json', 'model'],
    ['people/_SUCCESS', 'marker'],
    ['people/2026/12/04/_SUCCESS', 'marker'],
    ['people/part-1.csv', undefined],
    ['CustomerInsights_contoso/Export/Seg/2026/12/04/0100/Seg_1.csv', undefined],
    ['CustomerInsights_contoso/model.json', undefined],
    ['_SUCCESS', undefined],
  ])('classifies %s as %s', (name, kind) => {
    expect(classifyLandedBlob(name)).toBe(kind);
  });
});

describe('failureCode', () => {
  it.each([
    ['not sent: the run was canceled', 'not_sent'],
    ['outcome unknown: the bulk import was sent but its answer was lost', 'outcome_unknown'],
    ['unconfirmed: batch x still active at the reconcile deadline', 'unconfirmed'],
    ['skipped by ActiveCampaign (one of: ...)', 'rejected_by_activecampaign'],
  ])('maps "%s" to %s', (detail, code) => {
    expect(failureCode(detail)).toBe(code);
  });
});
