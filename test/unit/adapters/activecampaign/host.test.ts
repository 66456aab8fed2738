import { describe, expect, it } from 'vitest';

import { resolveActiveCampaignBaseUrl } from '../../../../shared/adapters/activecampaign/host';
import { ValidationError } from '../../../../shared/errors';

const production = {
  allowedSuffixes: ['.api-us1.com', '.api-eu1.com', '.activehosted.com'],
  allowLoopbackHttp: false,
};
const localDev = { ...production, allowLoopbackHttp: true };

function rejection(host: string, options = production): string {
  try {
    resolveActiveCampaignBaseUrl(host, options);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as Error).message;
  }
  throw new Error(`"${host}" was accepted`);
}

describe('resolveActiveCampaignBaseUrl', () => {
  it('returns the https API v3 base URL when the host ends in an allowed suffix', () => {
    expect(resolveActiveCampaignBaseUrl('acme.api-us1.com', production)).toBe(
      'https://acme.api-us1.com/api/3/',
    );
    expect(resolveActiveCampaignBaseUrl('acme.api-eu1.com', production)).toBe(
      'https://acme.api-eu1.com/api/3/',
    );
    expect(resolveActiveCampaignBaseUrl('  Shop.ActiveHosted.com ', production)).toBe(
      'https://shop.activehosted.com/api/3/',
    );
  });

  it('uses the configured suffixes when they are given without a leading dot', () => {
    expect(
      resolveActiveCampaignBaseUrl('a.example.org', { ...production, allowedSuffixes: ['example.org'] }),
    ).toBe('https://a.example.org/api/3/');
    expect(rejection('evilexample.org', { ...production, allowedSuffixes: ['example.org'] })).toMatch(
      /must end with/,
    );
  });

  it('rejects a URL with a scheme when the user pasted https://', () => {
    expect(rejection('https://acme.api-us1.com')).toMatch(/without https:\/\//);
    expect(rejection('http://acme.api-us1.com')).toMatch(/without https:\/\//);
    expect(rejection('//acme.api-us1.com')).toMatch(/without https:\/\//);
  });

  it('rejects paths, queries and credentials when the host carries them', () => {
    expect(rejection('acme.api-us1.com/api/3')).toMatch(/without a path/);
    expect(rejection('acme.api-us1.com?x=1')).toMatch(/without a path/);
    expect(rejection('user@acme.api-us1.com')).toMatch(/without a path/);
    expect(rejection('acme.api-us1.com#frag')).toMatch(/without a path/);
  });

  it('rejects a port when the host is not a loopback development host', () => {
    expect(rejection('acme.api-us1.com:8443')).toMatch(/port/);
    expect(rejection('acme.api-us1.com:8443', localDev)).toMatch(/port/);
  });

  it('rejects hosts outside the allowed suffixes and the bare suffix itself', () => {
    expect(rejection('internal.corp.local')).toMatch(/must end with/);
    expect(rejection('api-us1.com')).toMatch(/must end with/);
    expect(rejection('acme.api-us1.com.evil.com')).toMatch(/must end with/);
    expect(rejection('acme.api-us1.com.')).toMatch(/valid hostname|must end with/);
  });

  it('rejects IPv4 literals in dotted, decimal, hex, octal and short forms', () => {
    for (const ip of ['10.0.0.1', '169.254.169.254', '2130706433', '0x7f000001', '0177.0.0.1', '127.1']) {
      expect(rejection(ip, localDev)).toMatch(/IP addresses are not allowed/);
    }
  });

  it('rejects IPv6 literals, bracketed or not', () => {
    expect(rejection('[fd00::1]', localDev)).toMatch(/IP addresses/);
    expect(rejection('[::ffff:127.0.0.1]', localDev)).toMatch(/IP addresses/);
    expect(rejection('::1', localDev)).toMatch(/IP addresses/);
  });

  it('rejects names that are not valid hostnames', () => {
    expect(rejection('acme_shop.api-us1.com')).toMatch(/valid hostname/);
    expect(rejection('-acme.api-us1.com')).toMatch(/valid hostname/);
    expect(rejection('bücher.api-us1.com')).toMatch(/valid hostname/);
    expect(rejection('')).toMatch(/required/);
  });

  it('allows plain http to loopback with a port when loopback development is enabled', () => {
    expect(resolveActiveCampaignBaseUrl('127.0.0.1:5123', localDev)).toBe('http://127.0.0.1:5123/api/3/');
    expect(resolveActiveCampaignBaseUrl('localhost:5123', localDev)).toBe('http://localhost:5123/api/3/');
    expect(resolveActiveCampaignBaseUrl('[::1]:5123', localDev)).toBe('http://[::1]:5123/api/3/');
    expect(resolveActiveCampaignBaseUrl('localhost', localDev)).toBe('http://localhost/api/3/');
  });

  it('rejects loopback hosts when loopback development is disabled', () => {
    expect(rejection('127.0.0.1:5123')).toMatch(/ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP/);
    expect(rejection('localhost')).toMatch(/ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP/);
    expect(rejection('[::1]')).toMatch(/ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP/);
  });

  it('rejects an out-of-range loopback port', () => {
    expect(rejection('127.0.0.1:70000', localDev)).toMatch(/port out of range/);
  });
});
