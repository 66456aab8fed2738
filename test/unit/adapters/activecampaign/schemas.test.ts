import { describe, expect, it } from 'vitest';

import {
  bulkImportAcceptedSchema,
  errorBodySchema,
  importInfoSchema,
  listResponseSchema,
} from '../../../../shared/adapters/activecampaign/schemas';

describe('bulkImportAcceptedSchema', () => {
  it('accepts the success flag spelled `success` or `Success`', () => {
    const body = { queued_contacts: 2, batchId: 'b-1', message: 'Contact import queued' };
    expect(bulkImportAcceptedSchema.parse({ success: 1, ...body }).batchId).toBe('b-1');
    expect(bulkImportAcceptedSchema.parse({ Success: 1, ...body }).success).toBe(1);
  });

  it('rejects an answer without a batch id', () => {
    expect(bulkImportAcceptedSchema.safeParse({ success: 1, queued_contacts: 1 }).success).toBe(false);
  });
});

describe('importInfoSchema', () => {
  it('accepts `status: false` when the batch is not ready yet', () => {
    expect(importInfoSchema.parse({ status: false }).status).toBe(false);
  });

  it('reads contact ids as strings when they arrive as numbers', () => {
    expect(
      importInfoSchema.parse({ status: 'completed', success: [1, '2'], failure: ['a@b.co'] }).success,
    ).toEqual(['1', '2']);
  });

  it('keeps an undocumented status string (reconcile waits on it) and rejects a non-string status', () => {
    expect(importInfoSchema.parse({ status: 'exploded' }).status).toBe('exploded');
    expect(importInfoSchema.safeParse({ status: true }).success).toBe(false);
    expect(importInfoSchema.safeParse({ status: 3 }).success).toBe(false);
  });
});

describe('listResponseSchema', () => {
  it('reads a numeric list id as a string', () => {
    expect(listResponseSchema.parse({ list: { id: 7, name: 'Newsletter' } }).list.id).toBe('7');
  });
});

describe('errorBodySchema', () => {
  it('accepts failureReasons as strings or contact objects', () => {
    const parsed = errorBodySchema.parse({ failureReasons: ['x', { contact: '3', failureReason: 'bad' }] });
    expect(parsed.failureReasons).toEqual(['x', { contact: 3, failureReason: 'bad' }]);
  });
});
