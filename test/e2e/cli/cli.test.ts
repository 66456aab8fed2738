import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type RunningSandbox, startSandbox } from '../../../dev/sandbox/server';
import { RunReport } from '../../../shared/run/report';
import {
  cleanEnv,
  CLI,
  type CliResult,
  descendants,
  isAlive,
  peopleCsv,
  ROOT,
  runCli,
  startCli,
  until,
} from './harness';

/** Contacts the sandbox accepted in bulk imports since `fromSeq`. */
function bulkContactsSent(sandbox: RunningSandbox, fromSeq = 0): number {
  return sandbox.state.log
    .filter((r) => r.seq > fromSeq && r.path.startsWith('/api/3/import/bulk_import') && r.status === 200)
    .reduce((n, r) => n + (r.contacts ?? 0), 0);
}
const mark = (sandbox: RunningSandbox) => sandbox.state.log.at(-1)?.seq ?? 0;
const bulkRequests = (sandbox: RunningSandbox, fromSeq: number) =>
  sandbox.state.log.filter((r) => r.seq > fromSeq && r.path.startsWith('/api/3/import/bulk_import')).length;
const contactsInList = (sandbox: RunningSandbox, listId: number) =>
  [...sandbox.state.account(undefined).contacts.values()].filter((c) => c.lists[String(listId)] === 1);

describe('export CLI', () => {
  let work: string;
  let sandbox: RunningSandbox;
  let fastEnv: Record<string, string>;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'cli-test-'));
    sandbox = await startSandbox({ timeScale: 20, batchReadyDelayMs: 200 });
    fastEnv = cleanEnv({
      ACTIVECAMPAIGN_API_KEY: sandbox.apiKey,
      ACTIVECAMPAIGN_REQUESTS_PER_SECOND: '100',
      ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE: '2000',
      EXPORT_POLL_FIRST_MS: '300',
      EXPORT_POLL_MAX_MS: '1000',
    });
  });

  /** Exports `csv` (email only) into list 1 of the separately started sandbox. */
  const toSandbox = (csv: string, dataDir: string) => [
    ...['--segment', csv, '--list', '1', '--email', 'Email'],
    ...['--data-dir', dataDir, '--ac-url', sandbox.url],
  ];

  afterAll(async () => {
    await sandbox?.stop();
    if (!process.env.KEEP_CLI_TEST_DIR) await rm(work, { recursive: true, force: true });
  });

  it('exports into a separately started sandbox, then sends only the changed 1% on the next invocation', async () => {
    const csv = path.join(work, 'members.csv');
    await writeFile(csv, peopleCsv(500));
    const dataDir = path.join(work, 'data-incremental');
    const args = ['--segment', csv, '--list', '1', '--email', 'Email', '--first-name', 'FirstName'];
    const common = [...args, '--data-dir', dataDir, '--ac-url', sandbox.url];
    const reportFile = path.join(work, 'first.json');

    const first = await runCli([...common, '--report', reportFile], fastEnv);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toContain(`ActiveCampaign: ${sandbox.url}`);
    const report = RunReport.parse(JSON.parse(await readFile(reportFile, 'utf8')));
    expect(report.counts).toMatchObject({ rows: 500, valid: 500, sent: 500, confirmed: 500, failed: 0 });
    const members = contactsInList(sandbox, 1).filter((c) => c.email.startsWith('c'));
    expect(members).toHaveLength(500);
    expect(members.find((c) => c.email === 'c7@example.com')).toMatchObject({ firstName: 'First7' });
    // Piped: plain progress lines, no terminal control codes.
    expect(first.stdout).toMatch(/^stage \w+: \d+ of (\d+|\?) contacts confirmed/m);
    expect(first.stdout).not.toContain('\x1b[');

    await writeFile(
      csv,
      peopleCsv(500, (i) => i % 100 === 0),
    );
    const before = mark(sandbox);
    const second = await runCli(common, fastEnv);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(bulkContactsSent(sandbox, before)).toBe(5);
    expect(second.stdout).toMatch(/5 sent, 5 confirmed, 0 failed, 495 unchanged/);
    expect(sandbox.state.account(undefined).contacts.size).toBeGreaterThanOrEqual(500);
    expect(contactsInList(sandbox, 1).find((c) => c.email === 'c100@example.com')).toMatchObject({
      firstName: 'First100x',
    });
  });

  it('sends nothing on --dry-run, and its report has the plan', async () => {
    const csv = path.join(work, 'dry.csv');
    await writeFile(csv, peopleCsv(30).replace(/c(\d+)@/g, 'dry$1@'));
    const reportFile = path.join(work, 'dry.json');
    const before = mark(sandbox);
    const args = ['--segment', csv, '--list', '1', '--email', 'Email', '--dry-run', '--report', reportFile];
    const dry = await runCli(
      [...args, '--data-dir', path.join(work, 'data-dry'), '--ac-url', sandbox.url],
      fastEnv,
    );
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    expect(bulkRequests(sandbox, before)).toBe(0);
    const report = RunReport.parse(JSON.parse(await readFile(reportFile, 'utf8')));
    expect(report.dryRun).toBe(true);
    expect(report.plan).toMatchObject({ adds: 30, updates: 0, unsubscribes: 0, rejects: 0 });
    expect(dry.stdout).toContain('plan (nothing sent): 30 to add');
  });

  it('exports a Customer Insights folder into the bundled sandbox and writes the rejected rows', async () => {
    const rejected = path.join(work, 'rejected.csv');
    const result = await runCli(
      [
        '--segment',
        'dev/examples/customer-insights',
        '--list',
        '1',
        '--email',
        'Email',
        '--last-name',
        'LastName',
        '--tag',
        'cli-test',
        '--rejected',
        rejected,
        '--data-dir',
        path.join(work, 'data-ci'),
        '--sandbox-time-scale',
        '20',
      ],
      cleanEnv({ ACTIVECAMPAIGN_REQUESTS_PER_SECOND: '100', ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE: '2000' }),
    );
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('the bundled sandbox (no --ac-url given)');
    expect(result.stdout).toContain('Segment "Newsletter" (3 files)');
    expect(result.stdout).toMatch(/25 sent, 25 confirmed, 0 failed/);
    expect(result.stdout).toContain('Sandbox: 25 contacts, 25 subscribed to list 1');
    expect((await readFile(rejected, 'utf8')).split(/\r?\n/)[0]).toBe('file,line,email,reason,detail');
  });

  describe('bad input', () => {
    const csv = () => path.join(work, 'bad-input.csv');
    const base = () => ['--segment', csv(), '--list', '1', '--email', 'Email'];
    beforeAll(async () => writeFile(csv(), peopleCsv(3)));

    const cases: [string, () => string[], Record<string, string> | undefined, RegExp][] = [
      [
        'an unknown option',
        () => ['--segment', csv(), '--list', '1', '--email', 'Email', '--colour', 'red'],
        undefined,
        /Unknown option '--colour'/,
      ],
      [
        'a missing column',
        () => ['--segment', csv(), '--list', '1', '--email', 'Mail'],
        undefined,
        /Column "Mail" not found in .*bad-input\.csv/,
      ],
      [
        'an unreadable file',
        () => ['--segment', path.join(work, 'nope.csv'), '--list', '1', '--email', 'Email'],
        undefined,
        /Cannot read --segment .*nope\.csv: no such file/,
      ],
      [
        'a plain-http URL that is not loopback',
        () => [...base(), '--ac-url', 'http://example.api-us1.com'],
        { ACTIVECAMPAIGN_API_KEY: 'k' },
        /plain http is accepted only for a local sandbox/,
      ],
      [
        'a URL that is not one',
        () => [...base(), '--ac-url', 'account.api-us1.com'],
        { ACTIVECAMPAIGN_API_KEY: 'k' },
        /--ac-url is not a URL/,
      ],
      [
        'a missing key with --ac-url',
        () => [...base(), '--ac-url', 'https://example.api-us1.com'],
        undefined,
        /ACTIVECAMPAIGN_API_KEY is not set/,
      ],
    ];
    it.each(cases)('gives one line and exit 2 for %s', async (_what, args, env, message) => {
      const before = mark(sandbox);
      const result = await runCli(args(), cleanEnv(env));
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(message);
      expect(sandbox.state.log.filter((r) => r.seq > before)).toHaveLength(0);
    });

    it('gives one line and exit 2 for a list that does not exist, sending no contacts', async () => {
      const before = mark(sandbox);
      const result = await runCli(
        [
          '--segment',
          csv(),
          '--list',
          '999',
          '--email',
          'Email',
          '--data-dir',
          path.join(work, 'data-bad'),
          '--ac-url',
          sandbox.url,
        ],
        fastEnv,
      );
      expect(result.code).toBe(2);
      const errors = result.stderr.trim().split('\n');
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/^export: .*list.*999/i);
      expect(bulkRequests(sandbox, before)).toBe(0);
      expect(result.stdout + result.stderr).not.toContain(sandbox.apiKey);
    });
  });

  it('lists every option in --help with two examples', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const option of [
      '--segment',
      '--segment-name',
      '--list',
      '--email',
      '--first-name',
      '--last-name',
      '--phone',
      '--field',
      '--tag',
      '--membership',
      '--confirm-unsubscribes',
      '--full-resync',
      '--dry-run',
      '--report',
      '--rejected',
      '--data-dir',
      '--ac-url',
    ])
      expect(result.stdout).toContain(`  ${option} `);
    expect(result.stdout.match(/^ {2}(ACTIVECAMPAIGN_API_KEY=\S+ )?npm run export -- /gm)).toHaveLength(2);
  });

  it('draws a progress bar under a pseudo-terminal', async () => {
    const csv = path.join(work, 'tty.csv');
    await writeFile(csv, peopleCsv(200).replace(/c(\d+)@/g, 'tty$1@'));
    // Python's pty module gives the CLI a terminal; the parent copies what it drew to stdout.
    const script = [
      'import os, pty, sys',
      'pid, fd = pty.fork()',
      'if pid == 0:',
      '    os.execv(sys.argv[1], sys.argv[1:])',
      'out = b""',
      'while True:',
      '    try:',
      '        chunk = os.read(fd, 65536)',
      '    except OSError:',
      '        break',
      '    if not chunk: break',
      '    out += chunk',
      'sys.stdout.buffer.write(out)',
      'sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))',
    ].join('\n');
    const args = toSandbox(csv, path.join(work, 'data-tty'));
    const child = spawn('python3', ['-c', script, process.execPath, CLI, ...args], {
      cwd: ROOT,
      env: fastEnv,
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code, out).toBe(0);
    expect(out).toMatch(/\[[\u2588\u2591]{30}\] \d+% \| \d+\/\d+ contacts \| (\S+\/s) \| ETA /);
    expect(out).toMatch(/done\s+\[\u2588{30}\] 100% \| 200\/200 contacts/);
    expect(out).toContain('\x1b[');
  });

  it('stops every process it started on Ctrl-C, and the next invocation finishes the export', async () => {
    const csv = path.join(work, 'interrupt.csv');
    await writeFile(csv, peopleCsv(3_000).replace(/c(\d+)@/g, 'int$1@'));
    const dataDir = path.join(work, 'data-interrupt');
    const args = toSandbox(csv, dataDir);
    // A slow budget (6 bulk imports a minute): the run is still pushing when Ctrl-C comes.
    const cli = startCli(args, { ...fastEnv, ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE: '6' });
    const before = mark(sandbox);
    await until(() => bulkRequests(sandbox, before) > 0, 60_000, 'the first bulk import');
    const started = descendants(cli.child.pid!);
    expect(started.length).toBeGreaterThanOrEqual(2);
    cli.child.kill('SIGINT');
    const result: CliResult = await cli.done;
    expect(result.code, result.stdout + result.stderr).toBe(130);
    expect(result.stderr).toMatch(/interrupted; canceling run r\w+/);
    await until(() => started.every((pid) => !isAlive(pid)), 15_000, 'the started processes to end');

    const next = await runCli(args, fastEnv);
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(contactsInList(sandbox, 1).filter((c) => c.email.startsWith('int'))).toHaveLength(3_000);
  }, 180_000);
});
