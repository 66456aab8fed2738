import { describe, expect, it } from 'vitest';

import {
  type HostRuleError,
  resolveActiveCampaignBaseUrl,
} from '../../../../shared/adapters/activecampaign/host';
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

describe('resolveActiveCampaignBaseUrl refusals name their rule', () => {
  const rule = (host: string, options = production): string | undefined => {
    try {
      resolveActiveCampaignBaseUrl(host, options);
      return undefined;
    } catch (error) {
      return (error as HostRuleError).rule;
    }
  };

  it.each([
    ['', 'required'],
    ['https://acme.api-us1.com', 'scheme'],
    ['ftp://acme.api-us1.com', 'scheme'],
    ['user@acme.api-us1.com', 'user_info'],
    ['user:pass@acme.api-us1.com', 'user_info'],
    ['acme.api-us1.com@169.254.169.254', 'user_info'],
    ['acme.api-us1.com/x', 'path'],
    ['acme.api-us1.com\\x', 'path'],
    ['acme.api-us1.com%2f', 'path'],
    ['аcme.api-us1.com', 'non_ascii'], // Cyrillic а
    ['acme。api-us1。com', 'non_ascii'], // ideographic full stops
    ['acme．api-us1．com', 'non_ascii'], // fullwidth full stops
    ['acme.api-us1.com\u200b', 'non_ascii'], // zero-width space
    ['xn--80ak6aa92e.api-us1.com', 'punycode'],
    ['acme.xn--api-us1-abc.com', 'punycode'],
    ['169.254.169.254', 'ip_literal'],
    ['100.100.100.200', 'ip_literal'],
    ['192.168.1.1', 'ip_literal'],
    ['172.16.0.1', 'ip_literal'],
    ['0.0.0.0', 'ip_literal'],
    ['0', 'ip_literal'],
    ['[fe80::1]', 'ip_literal'],
    ['[fd00:ec2::254]', 'ip_literal'],
    ['acme.api-us1.com:443', 'port'],
    ['localhost:8080', 'loopback'],
    ['127.0.0.1:8080', 'loopback'],
    [`${'a'.repeat(64)}.api-us1.com`, 'label_too_long'],
    [`${'a.'.repeat(124)}api-us1.com`, 'name_too_long'],
    ['acme.api-us1.com.', 'invalid_name'],
    ['acme..api-us1.com', 'invalid_name'],
    ['acme_x.api-us1.com', 'invalid_name'],
    ['metadata.google.internal', 'suffix'],
    ['api-us1.com', 'suffix'],
    ['acme.api-us1.com.attacker.io', 'suffix'],
  ])('refuses %j under the %s rule', (host, expected) => {
    expect(rule(host)).toBe(expected);
  });

  it('accepts an account host and says the rule for loopback only when loopback development is off', () => {
    expect(rule('acme.api-us1.com')).toBeUndefined();
    expect(rule('127.0.0.1:8080', localDev)).toBeUndefined();
  });

  it('shows the refused host ASCII-escaped so look-alikes are visible', () => {
    try {
      resolveActiveCampaignBaseUrl('аcme.api-us1.com', production);
    } catch (error) {
      expect((error as HostRuleError).message).toContain('\\u0430cme');
    }
    expect.assertions(1);
  });
});
