/**
 * The ActiveCampaign host rule (docs/architecture.md, "Security"): a connection names a bare hostname that ends in one of the
 * allowed suffixes, so the app can never be pointed at an arbitrary address inside the network it runs in
 * (no IP literal in any form, no look-alike name, no credentials or port smuggled into the host).
 * ActiveCampaign tells users to copy the API URL from Settings → Developer; accounts live on
 * `<account>.api-us1.com`, `<account>.api-eu1.com` or `<account>.activehosted.com`
 * (developers.activecampaign.com/reference/url). Each refusal is a `HostRuleError` whose `rule` and
 * message say which rule the host broke.
 */
import { ValidationError } from '../../errors';

/** What the host rule needs from configuration. */
export interface HostRuleOptions {
  /** Suffixes a host must end with, e.g. `.api-us1.com` (from `ACTIVECAMPAIGN_ALLOWED_HOST_SUFFIXES`). */
  allowedSuffixes: readonly string[];
  /** Local development only: plain http to 127.0.0.1 / localhost / [::1], with a port (the sandbox). */
  allowLoopbackHttp: boolean;
}

/** The rules a host can break, one per refusal. */
export type HostRule =
  | 'required'
  | 'scheme'
  | 'user_info'
  | 'path'
  | 'non_ascii'
  | 'ip_literal'
  | 'port'
  | 'loopback'
  | 'name_too_long'
  | 'label_too_long'
  | 'punycode'
  | 'invalid_name'
  | 'suffix';

/** A host refused by the host rule; `rule` names the rule. */
export class HostRuleError extends ValidationError {
  readonly rule: HostRule;

  constructor(rule: HostRule, message: string) {
    super('Invalid ActiveCampaign host', [{ field: 'host', message }]);
    this.rule = rule;
  }
}

const LOOPBACK_HOSTNAMES = new Set(['localhost', '127.0.0.1', '[::1]']);
// RFC 1123 label: letters, digits, inner hyphens (length checked separately).
const LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
// The WHATWG URL parser treats a host whose last label is a number (decimal, 0x-hex, or octal) as an IPv4
// address: `2130706433`, `0x7f000001`, `0177.1` and `127.1` all mean 127.0.0.1. Refuse them all.
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|\d+)$/i;
const MAX_NAME = 253;
const MAX_LABEL = 63;

function reject(rule: HostRule, host: string, message: string): never {
  // The host is not a secret; echoing it (bounded, ASCII-escaped) helps the user fix a typo.
  const shown = JSON.stringify(host.slice(0, 100)).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  throw new HostRuleError(rule, `${message} (got ${shown})`);
}

/**
 * Validates a user-supplied ActiveCampaign host and returns the API v3 base URL (ending in `/api/3/`),
 * or throws a `HostRuleError` saying which rule the host broke.
 */
export function resolveActiveCampaignBaseUrl(input: string, options: HostRuleOptions): string {
  const host = input.trim().toLowerCase();
  if (host === '') reject('required', input, 'a hostname is required');
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(host) || host.startsWith('//')) {
    reject('scheme', input, 'enter the hostname only, without https:// (e.g. youraccount.api-us1.com)');
  }
  if (host.includes('@')) {
    reject(
      'user_info',
      input,
      'enter the hostname only, without a path or credentials: user-info (user@ or user:password@) is not allowed',
    );
  }
  if (/[/?#\\\s%]/.test(host))
    reject('path', input, 'enter the hostname only, without a path, query or fragment');
  // Unicode look-alikes (Cyrillic "а", fullwidth dots, …) never reach DNS as typed: refuse them outright.
  if (/[^\x21-\x7e]/.test(host)) {
    reject(
      'non_ascii',
      input,
      'not a valid hostname: non-ASCII characters (look-alike letters or dots) are not allowed',
    );
  }

  // Split an optional port; IPv6 literals are bracketed.
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(host);
  if (!match) reject('ip_literal', input, 'IP addresses are not allowed; use your ActiveCampaign hostname');
  const hostname = match[1] ?? '';
  const port = match[2];

  if (LOOPBACK_HOSTNAMES.has(hostname)) {
    if (!options.allowLoopbackHttp) {
      reject(
        'loopback',
        input,
        'loopback hosts are only allowed in local development (ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP)',
      );
    }
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
      reject('port', input, 'port out of range');
    // Plain http is acceptable only here: the traffic never leaves the machine.
    return `http://${hostname}${port === undefined ? '' : `:${port}`}/api/3/`;
  }
  if (hostname.startsWith('['))
    reject('ip_literal', input, 'IP addresses are not allowed; use your ActiveCampaign hostname');
  if (port !== undefined) reject('port', input, 'a port is only allowed for a loopback development host');

  const labels = hostname.split('.');
  if (NUMERIC_LABEL.test(labels[labels.length - 1] ?? '')) {
    reject('ip_literal', input, 'IP addresses are not allowed; use your ActiveCampaign hostname');
  }
  if (hostname.length > MAX_NAME)
    reject('name_too_long', input, `the hostname is longer than ${MAX_NAME} characters`);
  if (labels.some((label) => label.length > MAX_LABEL)) {
    reject(
      'label_too_long',
      input,
      `a part of the hostname between dots is longer than ${MAX_LABEL} characters`,
    );
  }
  // Punycode labels (`xn--`) spell internationalised names, the usual vehicle of look-alike domains;
  // ActiveCampaign account hosts never need them.
  if (labels.some((label) => label.startsWith('xn--'))) {
    reject('punycode', input, 'not a valid hostname: punycode (xn--) labels are not allowed');
  }
  if (hostname.endsWith('.'))
    reject('invalid_name', input, 'not a valid hostname: it must not end with a dot');
  if (!labels.every((label) => LABEL.test(label))) {
    reject('invalid_name', input, 'not a valid hostname (letters, digits, hyphens and dots only)');
  }
  const suffixes = options.allowedSuffixes.map((s) => (s.startsWith('.') ? s : `.${s}`).toLowerCase());
  if (!suffixes.some((suffix) => hostname.endsWith(suffix) && hostname.length > suffix.length)) {
    reject('suffix', input, `the host must end with one of ${suffixes.join(', ')}`);
  }
  // Belt and braces: the URL parser must see exactly the hostname we validated.
  const url = new URL(`https://${hostname}/api/3/`);
  if (url.hostname !== hostname) reject('invalid_name', input, 'not a valid hostname');
  return url.toString();
}
