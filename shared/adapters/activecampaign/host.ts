/**
 * The ActiveCampaign host rule (design §7): a connection names a bare hostname that ends in one of the
 * allowed suffixes, so the app can never be pointed at an arbitrary address inside the network it runs in.
 * ActiveCampaign tells users to copy the API URL from Settings → Developer; accounts live on
 * `<account>.api-us1.com`, `<account>.api-eu1.com` or `<account>.activehosted.com`
 * (developers.activecampaign.com/reference/url).
 */
import { ValidationError } from '../../errors';

/** What the host rule needs from configuration. */
export interface HostRuleOptions {
  /** Suffixes a host must end with, e.g. `.api-us1.com` (from `ACTIVECAMPAIGN_ALLOWED_HOST_SUFFIXES`). */
  allowedSuffixes: readonly string[];
  /** Local development only: plain http to 127.0.0.1 / localhost / [::1], with a port (the sandbox). */
  allowLoopbackHttp: boolean;
}

const LOOPBACK_HOSTNAMES = new Set(['localhost', '127.0.0.1', '[::1]']);
// RFC 1123 label: letters, digits, inner hyphens, at most 63 characters.
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// The WHATWG URL parser treats a host whose last label is a number (decimal, 0x-hex, or octal) as an IPv4
// address: `2130706433`, `0x7f000001`, `0177.1` and `127.1` all mean 127.0.0.1. Refuse them all.
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|\d+)$/i;

function reject(host: string, message: string): never {
  // The host is not a secret; echoing it (bounded) helps the user fix a typo.
  throw new ValidationError('Invalid ActiveCampaign host', [
    { field: 'host', message: `${message} (got "${host.slice(0, 100)}")` },
  ]);
}

/**
 * Validates a user-supplied ActiveCampaign host and returns the API v3 base URL (ending in `/api/3/`),
 * or throws a `ValidationError` saying which rule the host broke.
 */
export function resolveActiveCampaignBaseUrl(input: string, options: HostRuleOptions): string {
  const host = input.trim().toLowerCase();
  if (host === '') reject(input, 'a hostname is required');
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(host) || host.startsWith('//')) {
    reject(input, 'enter the hostname only, without https:// (e.g. youraccount.api-us1.com)');
  }
  if (/[/?#@\\\s%]/.test(host))
    reject(input, 'enter the hostname only, without a path, query or credentials');

  // Split an optional port; IPv6 literals are bracketed.
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(host);
  if (!match) reject(input, 'IP addresses are not allowed; use your ActiveCampaign hostname');
  const hostname = match[1] ?? '';
  const port = match[2];

  if (LOOPBACK_HOSTNAMES.has(hostname)) {
    if (!options.allowLoopbackHttp) {
      reject(
        input,
        'loopback hosts are only allowed in local development (ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP)',
      );
    }
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) reject(input, 'port out of range');
    // Plain http is acceptable only here: the traffic never leaves the machine.
    return `http://${hostname}${port === undefined ? '' : `:${port}`}/api/3/`;
  }
  if (hostname.startsWith('['))
    reject(input, 'IP addresses are not allowed; use your ActiveCampaign hostname');
  if (port !== undefined) reject(input, 'a port is only allowed for a loopback development host');

  const labels = hostname.split('.');
  if (NUMERIC_LABEL.test(labels[labels.length - 1] ?? '')) {
    reject(input, 'IP addresses are not allowed; use your ActiveCampaign hostname');
  }
  if (hostname.length > 253 || !labels.every((label) => LABEL.test(label))) {
    reject(
      input,
      'not a valid hostname (letters, digits, hyphens and dots; internationalised names in punycode)',
    );
  }
  const suffixes = options.allowedSuffixes.map((s) => (s.startsWith('.') ? s : `.${s}`).toLowerCase());
  if (!suffixes.some((suffix) => hostname.endsWith(suffix) && hostname.length > suffix.length)) {
    reject(input, `the host must end with one of ${suffixes.join(', ')}`);
  }
  // Belt and braces: the URL parser must see exactly the hostname we validated.
  const url = new URL(`https://${hostname}/api/3/`);
  if (url.hostname !== hostname) reject(input, 'not a valid hostname');
  return url.toString();
}
