import { describe, expect, it } from 'vitest';

import { parseConfig } from '../../shared/config';
import { ConfigError } from '../../shared/errors';

function configError(env: Record<string, string>): ConfigError {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected parseConfig to throw');
}

describe('parseConfig', () => {
  it('applies the documented defaults when the environment is empty', () => {
    const config = parseConfig({});
    expect(config.EXPORT_PROFILE_CAP).toBe(1_000_000);
    expect(config.ACTIVECAMPAIGN_REQUESTS_PER_SECOND).toBe(5);
    expect(config.ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE).toBe(100);
    expect(config.ACTIVECAMPAIGN_ALLOWED_HOST_SUFFIXES).toEqual([
      '.api-us1.com',
      '.api-eu1.com',
      '.activehosted.com',
    ]);
    expect(config.ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP).toBe(false);
    expect(config.LOCAL_DEV_MODE).toBe(false);
  });

  it('coerces numbers, flags and lists from strings', () => {
    const config = parseConfig({
      EXPORT_PROFILE_CAP: '2500',
      ACTIVECAMPAIGN_REQUESTS_PER_SECOND: '2.5',
      ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP: 'true',
      ACTIVECAMPAIGN_ALLOWED_HOST_SUFFIXES: ' .api-us1.com , .example-ac.com ',
    });
    expect(config.EXPORT_PROFILE_CAP).toBe(2500);
    expect(config.ACTIVECAMPAIGN_REQUESTS_PER_SECOND).toBe(2.5);
    expect(config.ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP).toBe(true);
    expect(config.ACTIVECAMPAIGN_ALLOWED_HOST_SUFFIXES).toEqual(['.api-us1.com', '.example-ac.com']);
  });

  it('lists every bad setting in one error when several are wrong', () => {
    const error = configError({
      EXPORT_PROFILE_CAP: '-3',
      ACTIVECAMPAIGN_REQUESTS_PER_SECOND: 'fast',
      KEY_VAULT_URL: 'not a url',
      LOCAL_DEV_MODE: 'yes',
    });
    expect(error.issues.map((i) => i.field).sort()).toEqual([
      'ACTIVECAMPAIGN_REQUESTS_PER_SECOND',
      'EXPORT_PROFILE_CAP',
      'KEY_VAULT_URL',
      'LOCAL_DEV_MODE',
    ]);
    expect(error.message).toContain('EXPORT_PROFILE_CAP');
    expect(error.message).toContain('KEY_VAULT_URL');
  });

  it('refuses Private Link with bring-your-own storage when the flag is set', () => {
    const error = configError({ SEGMENT_STORAGE_PRIVATE_LINK: 'true' });
    expect(error.issues[0]?.field).toBe('SEGMENT_STORAGE_PRIVATE_LINK');
    expect(error.message).toMatch(/Private Link .* not supported/);
  });

  it('refuses a privatelink segment storage endpoint in a connection string', () => {
    const error = configError({
      SEGMENT_STORAGE_CONNECTION_STRING:
        'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abc;BlobEndpoint=https://x.privatelink.blob.core.windows.net/;',
    });
    expect(error.message).toMatch(/Private Link/);
  });

  it('does not echo a setting value in its error', () => {
    const error = configError({ KEY_VAULT_URL: 'super-secret-value' });
    expect(error.message).not.toContain('super-secret-value');
  });
});
