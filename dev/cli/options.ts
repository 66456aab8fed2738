/**
 * The export CLI's command line (node's `util.parseArgs`), checked before anything starts: each problem is
 * one `CliInputError` naming the option.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';

import { APP_DIR } from '../stack/localStack';

/** Bad input: one line naming the problem; the CLI exits 2 with nothing started or sent. */
export class CliInputError extends Error {
  override name = 'CliInputError';
}

/** Where the bundled sandbox lives, or the account the CLI sends to. */
export type Target =
  { kind: 'sandbox' } | { kind: 'url'; url: string; hostname: string; loopbackHttp: boolean; apiKey: string };

export interface CliOptions {
  segment: string;
  segmentName: string | undefined;
  listId: number;
  mapping: {
    email: string;
    firstName?: string;
    lastName?: string;
    phone?: string;
    fields: { column: string; fieldId: number }[];
    tags: string[];
  };
  membership: 'add' | 'mirror';
  confirmUnsubscribes: number | undefined;
  fullResync: boolean;
  dryRun: boolean;
  reportFile: string | undefined;
  rejectedFile: string | undefined;
  dataDir: string;
  target: Target;
  sandboxTimeScale: number;
}

const OPTIONS = {
  segment: { type: 'string' },
  'segment-name': { type: 'string' },
  list: { type: 'string' },
  email: { type: 'string' },
  'first-name': { type: 'string' },
  'last-name': { type: 'string' },
  phone: { type: 'string' },
  field: { type: 'string', multiple: true },
  tag: { type: 'string', multiple: true },
  membership: { type: 'string' },
  'confirm-unsubscribes': { type: 'string' },
  'full-resync': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  report: { type: 'string' },
  rejected: { type: 'string' },
  'data-dir': { type: 'string' },
  'ac-url': { type: 'string' },
  'sandbox-time-scale': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The default data dir: under the project, git-ignored (`.local/`). */
export const DEFAULT_DATA_DIR = path.join(APP_DIR, '.local', 'cli');

/** `--help`: every option with a one-line meaning, and two examples. */
export const HELP = `Usage: npm run export -- --segment <csv | folder> --list <id> --email <column> [options]
       (or: segment-export --segment ...)

Runs one export through the app on the local Functions host: starts Azurite (on disk in --data-dir), the
Key Vault emulator, the host and, without --ac-url, the bundled ActiveCampaign sandbox; puts the segment
into segment storage, creates or updates the connection and the export, runs it, follows it, writes the
report and stops everything. The same --data-dir, segment and list is the same export: runs are incremental.

Options:
  --segment <path>              a CSV file, a .csv.gz, or a Customer Insights folder holding model.json
  --segment-name <name>         the segment's name (default: the file name without .csv/.csv.gz; for a
                                folder, the one segment its model.json describes)
  --list <id>                   the ActiveCampaign list id to export into (must exist)
  --email <column>              the column holding the email address (required)
  --first-name <column>         the column carried into the contact's first name
  --last-name <column>          the column carried into the contact's last name
  --phone <column>              the column carried into the contact's phone
  --field <column>=<fieldId>    a column carried into a custom field (repeatable)
  --tag <name>                  a tag added to every exported contact (repeatable)
  --membership add|mirror       add: add and update only (default); mirror: also unsubscribe contacts
                                that left the segment
  --confirm-unsubscribes <n>    confirms a mirror-mode unsubscribe count above the safety share
  --full-resync                 ignore the snapshot of the last run and send every contact
  --dry-run                     report the plan (adds, updates, unsubscribes, rejects) and send nothing
  --report <file.json>          write the run report there
  --rejected <file.csv>         write the rejected rows (with reasons) there
  --data-dir <dir>              where the local stack keeps its data (default: .local/cli in the project)
  --ac-url <url>                your ActiveCampaign API URL (https://<account>.api-us1.com); the key comes
                                from ACTIVECAMPAIGN_API_KEY. Without it: the bundled sandbox. A sandbox
                                started separately: http://127.0.0.1:<port>
  --sandbox-time-scale <x>      the bundled sandbox's pace (default 1: ActiveCampaign's real rate limits)
  -h, --help                    this help

Rate budgets come from ACTIVECAMPAIGN_REQUESTS_PER_SECOND and ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE.

Examples:
  npm run export -- --segment dev/examples/people.csv --list 1 --email Email --first-name FirstName
  ACTIVECAMPAIGN_API_KEY=<key> npm run export -- --ac-url https://youraccount.api-us1.com \\
    --segment exports/newsletter.csv --list 3 --email Email --tag newsletter --report report.json
`;

/** Parses `argv`; `undefined` means `--help` was asked for. Throws `CliInputError` for bad input. */
export function parseCliOptions(
  argv: string[],
  env: Record<string, string | undefined>,
): CliOptions | undefined {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new CliInputError(`${(error as Error).message.split('\n')[0]} (see --help)`);
  }
  if (values.help) return undefined;
  const required = (name: 'segment' | 'list' | 'email'): string => {
    const value = values[name];
    if (value === undefined || value.trim() === '')
      throw new CliInputError(`--${name} is required (see --help)`);
    return value;
  };
  const segment = required('segment');
  const listId = positiveInteger(required('list'), '--list', 'an ActiveCampaign list id');
  const membership = values.membership ?? 'add';
  if (membership !== 'add' && membership !== 'mirror')
    throw new CliInputError(`--membership must be add or mirror, got "${membership}"`);
  const fields = (values.field ?? []).map((spec) => {
    const match = /^(.+)=(\d+)$/.exec(spec);
    if (!match) throw new CliInputError(`--field must be <column>=<fieldId>, got "${spec}"`);
    return { column: match[1]!.trim(), fieldId: positiveInteger(match[2]!, '--field', 'a custom field id') };
  });
  const timeScale = Number(values['sandbox-time-scale'] ?? '1');
  if (!(timeScale > 0)) throw new CliInputError('--sandbox-time-scale must be a positive number');
  return {
    segment: path.resolve(segment),
    segmentName: values['segment-name'],
    listId,
    mapping: {
      email: required('email'),
      ...(values['first-name'] ? { firstName: values['first-name'] } : {}),
      ...(values['last-name'] ? { lastName: values['last-name'] } : {}),
      ...(values.phone ? { phone: values.phone } : {}),
      fields,
      tags: values.tag ?? [],
    },
    membership,
    confirmUnsubscribes:
      values['confirm-unsubscribes'] === undefined
        ? undefined
        : nonNegativeInteger(values['confirm-unsubscribes'], '--confirm-unsubscribes'),
    fullResync: values['full-resync'] ?? false,
    dryRun: values['dry-run'] ?? false,
    reportFile: values.report === undefined ? undefined : path.resolve(values.report),
    rejectedFile: values.rejected === undefined ? undefined : path.resolve(values.rejected),
    dataDir: path.resolve(values['data-dir'] ?? DEFAULT_DATA_DIR),
    target: values['ac-url'] === undefined ? { kind: 'sandbox' } : parseTarget(values['ac-url'], env),
    sandboxTimeScale: timeScale,
  };
}

function positiveInteger(raw: string, option: string, what: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < 1)
    throw new CliInputError(`${option} must be ${what} (a positive whole number), got "${raw}"`);
  return n;
}

function nonNegativeInteger(raw: string, option: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n))
    throw new CliInputError(`${option} must be a whole number, got "${raw}"`);
  return n;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost']);

/** `--ac-url`: https to an account, or plain http to a loopback sandbox; the key from the environment. */
export function parseTarget(raw: string, env: Record<string, string | undefined>): Target {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliInputError(`--ac-url is not a URL: "${raw}" (expected https://<account>.api-us1.com)`);
  }
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== ''))
    throw new CliInputError(
      `--ac-url must be the account's API URL only (https://<account>.api-us1.com), without a path, query or user name: "${raw}"`,
    );
  let loopbackHttp = false;
  if (url.protocol === 'http:') {
    if (!LOOPBACK.has(url.hostname) || !url.port)
      throw new CliInputError(
        `--ac-url: plain http is accepted only for a local sandbox (http://127.0.0.1:<port> or http://localhost:<port>), got "${raw}"; use https`,
      );
    loopbackHttp = true;
  } else if (url.protocol !== 'https:') {
    throw new CliInputError(`--ac-url must start with https:// (got "${url.protocol}")`);
  } else if (url.port) {
    throw new CliInputError(`--ac-url must not name a port for https: "${raw}"`);
  }
  const apiKey = env.ACTIVECAMPAIGN_API_KEY?.trim();
  if (!apiKey)
    throw new CliInputError(
      'ACTIVECAMPAIGN_API_KEY is not set: with --ac-url the API key comes from that environment variable (Settings → Developer in ActiveCampaign)',
    );
  const hostname = loopbackHttp
    ? `${url.hostname === 'localhost' ? '127.0.0.1' : url.hostname}:${url.port}`
    : url.hostname;
  return { kind: 'url', url: url.origin, hostname, loopbackHttp, apiKey };
}
