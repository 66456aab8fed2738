import fs from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  emitExportRunFailed,
  EXPORT_RUN_FAILED_EVENT,
  TELEMETRY_EVENT_PREFIX,
} from '../../../shared/telemetry';
import { onlyResource, readTemplate, variable } from './template';

const template = readTemplate();

/** What the alert rule's KQL looks for, read from the query text itself. */
interface ParsedQuery {
  table: string;
  prefix: string;
  event: string;
  /** Projected column → event field. */
  fields: Record<string, string>;
}

function parseQuery(query: string): ParsedQuery {
  const table = /^\s*(\w+)/.exec(query)?.[1];
  const prefix = /\| where message startswith "([^"]*)"/.exec(query)?.[1];
  const substringPrefix = /substring\(message, strlen\("([^"]*)"\)\)/.exec(query)?.[1];
  const event = /tostring\(e\.event\) == "([^"]+)"/.exec(query)?.[1];
  const project = /\| project (.+)$/m.exec(query)?.[1];
  if (!table || prefix === undefined || !event || !project)
    throw new Error(`unexpected query shape:\n${query}`);
  if (substringPrefix !== prefix) throw new Error('the query strips a different prefix than it filters on');
  const fields: Record<string, string> = {};
  for (const column of project.split(',').map((c) => c.trim())) {
    const match = /^(\w+) = tostring\(e\.(\w+)\)$/.exec(column);
    if (match) fields[match[1]!] = match[2]!;
    else if (column !== 'timestamp') throw new Error(`unexpected projected column ${column}`);
  }
  return { table, prefix, event, fields };
}

/** KQL's `tostring` of a dynamic value: strings as they are, null/missing as "", the rest as JSON. */
function kqlToString(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Evaluates the parsed query against one trace message, as Log Analytics would; undefined = no row. */
function evaluate(query: ParsedQuery, message: string): Record<string, string> | undefined {
  if (!message.startsWith(query.prefix)) return undefined;
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(message.slice(query.prefix.length)) as Record<string, unknown>;
  } catch {
    return undefined; // parse_json gives null, tostring(null.event) is "", so the row is filtered out
  }
  if (kqlToString(e.event) !== query.event) return undefined;
  return Object.fromEntries(
    Object.entries(query.fields).map(([column, field]) => [column, kqlToString(e[field])]),
  );
}

describe('the failed-run alert rule', () => {
  const query = parseQuery(variable(template, 'failedRunQuery') as string);
  const rule = onlyResource(template, 'Microsoft.Insights/scheduledQueryRules');
  const properties = rule.properties as {
    scopes: string[];
    criteria: {
      allOf: { query: string; dimensions: { name: string }[]; threshold: number; operator: string }[];
    };
    actions: { actionGroups: string[] };
  };

  it('matches the line a failed run emits, with its name and every field', () => {
    const lines: string[] = [];
    const failure = new Error('bulk import failed for good after 6 attempts (503)');
    emitExportRunFailed(
      { error: (line: unknown) => lines.push(String(line)) },
      {
        exportId: 'exp-7',
        runId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
        reason: failure.message,
        trigger: 'blob',
        code: 'server_error',
        failedAt: '2030-01-02T03:04:05.000Z',
      },
    );
    expect(lines).toHaveLength(1);
    expect(query.prefix).toBe(TELEMETRY_EVENT_PREFIX);
    expect(query.event).toBe(EXPORT_RUN_FAILED_EVENT);
    expect(evaluate(query, lines[0]!)).toEqual({
      exportId: 'exp-7',
      runId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
      reason: 'bulk import failed for good after 6 attempts (503)',
      trigger: 'blob',
      code: 'server_error',
    });
  });

  it('matches no ordinary trace line and no other event', () => {
    expect(evaluate(query, 'exportId=exp-7 runId=r1 run failed, retrying')).toBeUndefined();
    expect(
      evaluate(query, `${TELEMETRY_EVENT_PREFIX}{"event":"ExportRunSucceeded","exportId":"e"}`),
    ).toBeUndefined();
    expect(evaluate(query, `${TELEMETRY_EVENT_PREFIX}not json`)).toBeUndefined();
  });

  it('alerts per export and run on any matching row of Application Insights traces', () => {
    expect(query.table).toBe('traces');
    expect(properties.scopes).toEqual([
      "[resourceId('Microsoft.Insights/components', variables('appInsightsName'))]",
    ]);
    const criterion = properties.criteria.allOf[0]!;
    expect(criterion.query).toBe("[variables('failedRunQuery')]");
    expect(criterion.operator).toBe('GreaterThan');
    expect(criterion.threshold).toBe(0);
    for (const dimension of criterion.dimensions) expect(Object.keys(query.fields)).toContain(dimension.name);
    expect(criterion.dimensions.map((d) => d.name)).toEqual(['exportId', 'runId']);
  });

  it('e-mails the addresses of the alertEmailAddresses parameter, and exists only when there are some', () => {
    expect(variable(template, 'alertEnabled')).toBe(
      "[greater(length(parameters('alertEmailAddresses')), 0)]",
    );
    expect(template.parameters.alertEmailAddresses).toMatchObject({ type: 'array', defaultValue: [] });
    const group = onlyResource(template, 'Microsoft.Insights/actionGroups');
    expect(group.condition).toBe("[variables('alertEnabled')]");
    expect(rule.condition).toBe("[variables('alertEnabled')]");
    const copy = (
      group.properties as { copy: { name: string; count: string; input: Record<string, unknown> }[] }
    ).copy[0]!;
    expect(copy.name).toBe('emailReceivers');
    expect(copy.count).toBe("[length(parameters('alertEmailAddresses'))]");
    expect(copy.input.emailAddress).toBe("[parameters('alertEmailAddresses')[copyIndex('emailReceivers')]]");
    expect(properties.actions.actionGroups).toEqual([
      "[resourceId('Microsoft.Insights/actionGroups', variables('actionGroupName'))]",
    ]);
  });
});

describe('host.json', () => {
  const hostJson = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../host.json'), 'utf8')) as {
    logging: { applicationInsights: { samplingSettings: { isEnabled: boolean; excludedTypes: string } } };
    extensions: { durableTask: Record<string, unknown> };
    functionTimeout: string;
  };

  it('never samples away trace lines, so the failed-run event always reaches the alert', () => {
    const sampling = hostJson.logging.applicationInsights.samplingSettings;
    if (sampling.isEnabled) expect(sampling.excludedTypes.split(';')).toContain('Trace');
  });

  it('names the task hub from DURABLE_TASK_HUB_NAME and never traces payloads', () => {
    expect(hostJson.extensions.durableTask.hubName).toBe('%DURABLE_TASK_HUB_NAME%');
    expect(hostJson.extensions.durableTask.storageProvider).toMatchObject({ type: 'AzureStorage' });
    expect(hostJson.extensions.durableTask.tracing).toMatchObject({ traceInputsAndOutputs: false });
    expect(hostJson.functionTimeout).toMatch(/^\d\d:\d\d:\d\d$/);
  });
});
