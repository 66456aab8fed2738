import { describe, expect, it } from 'vitest';

import { parseBlobPath, resolveStorageConnection } from '../../../dev/host/blobTrigger';
import { parseSchedule, timerPayload } from '../../../dev/host/timerTrigger';

describe('parseSchedule', () => {
  it('computes the next NCRONTAB occurrence with seconds in UTC', () => {
    const next = parseSchedule('*/15 * * * * *', 'f');
    expect(next(new Date('2024-01-01T00:00:07Z')).toISOString()).toBe('2024-01-01T00:00:15.000Z');
    expect(parseSchedule('0 0 2 * * *', 'f')(new Date('2024-01-01T03:00:00Z')).toISOString()).toBe(
      '2024-01-02T02:00:00.000Z',
    );
  });

  it('requires both day of month and day of week to match when both are restricted, as NCRONTAB does', () => {
    // Friday the 13th: cron-parser alone (Vixie semantics) would also fire on every Friday and every 13th.
    const next = parseSchedule('0 0 0 13 * 5', 'f');
    const first = next(new Date('2024-01-01T00:00:00Z'));
    expect(first.toISOString()).toBe('2024-09-13T00:00:00.000Z');
    expect(next(first).toISOString()).toBe('2024-12-13T00:00:00.000Z');
    const everyMinute = parseSchedule('0 */30 9 13 * 5', 'f');
    expect(everyMinute(new Date('2024-09-13T09:00:00Z')).toISOString()).toBe('2024-09-13T09:30:00.000Z');
    expect(everyMinute(new Date('2024-09-13T09:30:00Z')).toISOString()).toBe('2024-12-13T09:00:00.000Z');
  });

  it('accepts a TimeSpan schedule', () => {
    expect(parseSchedule('00:05:00', 'f')(new Date('2024-01-01T00:00:00Z')).toISOString()).toBe(
      '2024-01-01T00:05:00.000Z',
    );
  });

  it('refuses five-field cron expressions as the Functions host does', () => {
    expect(() => parseSchedule('*/5 * * * *', 'Function "t"')).toThrow(
      'Function "t": the schedule "*/5 * * * *" is not a valid NCRONTAB',
    );
  });

  it('builds the PascalCase payload the host sends', () => {
    const now = new Date('2024-01-01T00:00:00Z');
    expect(timerPayload(undefined, new Date('2024-01-02T00:00:00Z'), true, now)).toEqual({
      Schedule: { AdjustForDST: true },
      ScheduleStatus: {
        Last: '0001-01-01T00:00:00',
        Next: '2024-01-02T00:00:00.000Z',
        LastUpdated: now.toISOString(),
      },
      IsPastDue: true,
    });
  });
});

describe('parseBlobPath', () => {
  it('splits the container and matches names with parameters across folders', () => {
    const p = parseBlobPath('segments/in/{name}.csv', 'f');
    expect(p.container).toBe('segments');
    expect(p.prefix).toBe('in/');
    expect(p.match('in/a/b.csv')).toEqual({ name: 'a/b' });
    expect(p.match('in/a.txt')).toBeUndefined();
    expect(p.match('out/a.csv')).toBeUndefined();
  });

  it('captures several parameters and matches everything for a bare container', () => {
    expect(parseBlobPath('c/{folder}/{file}.{ext}', 'f').match('x/y.z')).toEqual({
      folder: 'x',
      file: 'y',
      ext: 'z',
    });
    expect(parseBlobPath('c', 'f').match('any/thing')).toEqual({});
  });

  it('refuses parameters in the container name', () => {
    expect(() => parseBlobPath('{c}/x', 'Function "f"')).toThrow('is not a valid container name');
  });
});

describe('resolveStorageConnection', () => {
  it('reads the named setting, then the AzureWebJobs-prefixed one', () => {
    expect(resolveStorageConnection('Conn', 'f', { Conn: 'a' })).toBe('a');
    expect(resolveStorageConnection('Conn', 'f', { AzureWebJobsConn: 'b' })).toBe('b');
    expect(resolveStorageConnection(undefined, 'f', { AzureWebJobsStorage: 'c' })).toBe('c');
  });

  it('refuses identity-based connections loudly', () => {
    expect(() => resolveStorageConnection('Conn', 'f', { Conn__serviceUri: 'https://x' })).toThrow(
      'identity-based',
    );
  });
});
