/* eslint-disable @typescript-eslint/no-unsafe-member-access -- response bodies are checked with expect(), not typed */
/**
 * Hostile input: every request below must get a 4xx with a useful JSON error, and none may store
 * anything (the tables and Key Vault are compared before and after the whole suite).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  type Answer,
  API_KEY,
  type ApiStack,
  connectionBody,
  exportBody,
  logText,
  startApiStack,
} from './harness';

let stack: ApiStack;
let connectionId: string;
let exportId: string;
let baseline: { connections: string[]; exports: string[]; vault: string };

beforeAll(async () => {
  stack = await startApiStack();
  const created = await stack.call('POST', 'connections', { body: connectionBody(stack) });
  connectionId = created.json.id as string;
  exportId = (await stack.call('POST', 'exports', { body: exportBody(connectionId) })).json.id as string;
  baseline = {
    connections: await stack.entities('Connections'),
    exports: await stack.entities('Exports'),
    vault: JSON.stringify(stack.keyVault.snapshot()),
  };
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** Asserts a 4xx JSON error with a code, a message and, when given, a detail on `path`. */
function expectRefusal(res: Answer, status: number, path?: string) {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/json');
  expect(res.json.error.code).toEqual(expect.any(String));
  expect(res.json.error.message.length).toBeGreaterThan(5);
  expect(res.text).not.toMatch(/\bat .+\.js:\d+/); // never a stack
  if (path) expect((res.json.error.details as Array<{ path: string }>).map((d) => d.path)).toContain(path);
}

const create = (overrides: Record<string, unknown>) =>
  stack.call('POST', 'connections', { body: connectionBody(stack, overrides) });

describe('hostile input', () => {
  it('refuses an oversized body with 413, whether declared or streamed', async () => {
    const big = JSON.stringify(connectionBody(stack, { displayName: 'x'.repeat(70_000) }));
    expectRefusal(
      await stack.call('POST', 'connections', { raw: big, headers: { 'content-type': 'application/json' } }),
      413,
    );
    const exportBig = JSON.stringify(
      exportBody(connectionId, {
        mapping: { email: 'Email', tags: { fixed: Array(5000).fill('tag-name-long') } },
      }),
    );
    expectRefusal(
      await stack.call('POST', 'exports', {
        raw: exportBig,
        headers: { 'content-type': 'application/json' },
      }),
      413,
    );
  });

  it('refuses invalid JSON, a non-JSON content type, an empty body and a JSON array', async () => {
    const json = { 'content-type': 'application/json' };
    expectRefusal(
      await stack.call('POST', 'connections', { raw: '{"displayName": "a",', headers: json }),
      400,
      'body',
    );
    expectRefusal(
      await stack.call('POST', 'connections', {
        raw: 'displayName=a',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
      415,
    );
    expectRefusal(await stack.call('POST', 'connections', { raw: '', headers: json }), 400, 'body');
    expectRefusal(await stack.call('POST', 'connections', { raw: '[]', headers: json }), 400, 'body');
    const invalidUtf8 = new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]);
    expectRefusal(await stack.call('POST', 'connections', { raw: invalidUtf8, headers: json }), 400, 'body');
  });

  it('refuses wrong types with the field named', async () => {
    expectRefusal(await create({ displayName: 42 }), 400, 'body.displayName');
    expectRefusal(await create({ allowContributors: 'yes' }), 400, 'body.allowContributors');
    expectRefusal(await create({ acceptDataPrivacy: 'true' }), 400, 'body.acceptDataPrivacy');
    expectRefusal(await create({ apiKey: ['a'] }), 400, 'body.apiKey');
    expectRefusal(
      await stack.call('POST', 'exports', { body: exportBody(connectionId, { listId: '1' }) }),
      400,
      'body.listId',
    );
    expectRefusal(
      await stack.call('POST', 'exports', { body: exportBody(connectionId, { listId: -1 }) }),
      400,
      'body.listId',
    );
    expectRefusal(
      await stack.call('POST', 'exports', { body: exportBody(connectionId, { listId: 1.5 }) }),
      400,
      'body.listId',
    );
    expectRefusal(
      await stack.call('POST', 'exports', { body: exportBody(connectionId, { segments: [] }) }),
      400,
      'body.segments',
    );
    expectRefusal(
      await stack.call('POST', 'exports', { body: exportBody(connectionId, { schedule: 'hourly' }) }),
      400,
      'body.schedule',
    );
    expectRefusal(
      await stack.call('POST', 'exports', { body: exportBody(connectionId, { mapping: {} }) }),
      400,
      'body.mapping.email',
    );
  });

  it('refuses unknown fields, including __proto__ and constructor, anywhere in a body or query', async () => {
    expectRefusal(await create({ apiUrl: 'https://x' }), 400, 'body.apiUrl');
    expectRefusal(await create({ id: '00000000-0000-4000-8000-000000000000' }), 400, 'body.id');
    expectRefusal(await create({ secretName: 'ac-key-other' }), 400, 'body.secretName');
    const proto = `{"displayName":"a","hostname":"${stack.sandbox.hostForClient}","apiKey":"k1234","acceptDataPrivacy":true,"__proto__":{"admin":true}}`;
    expectRefusal(
      await stack.call('POST', 'connections', {
        raw: proto,
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'body.__proto__',
    );
    expectRefusal(
      await stack.call('POST', 'exports', {
        body: exportBody(connectionId, { mapping: { email: 'Email', constructor: 'x' } }),
      }),
      400,
      'body.mapping.constructor',
    );
    expectRefusal(
      await stack.call('PATCH', `exports/${exportId}`, { body: { createdBy: 'someone-else' } }),
      400,
      'body.createdBy',
    );
    expectRefusal(await stack.call('GET', 'connections?admin=true'), 400, 'query.admin');
    expectRefusal(
      await stack.call('DELETE', `connections/${connectionId}?detach=1%20OR%201=1`),
      400,
      'query.detach',
    );
    expectRefusal(await stack.call('GET', 'connections?limit=1&limit=2'), 400, 'query.limit');
  });

  it('refuses injection-looking strings where they cannot belong', async () => {
    expectRefusal(await create({ displayName: '<script>alert(1)</script>' }), 400, 'body.displayName');
    expectRefusal(await create({ displayName: 'line\r\nSet-Cookie: x=1' }), 400, 'body.displayName');
    expectRefusal(await create({ apiKey: 'key\r\nX-Injected: 1' }), 400, 'body.apiKey');
    expectRefusal(await create({ hostname: "acme.api-us1.com' OR '1'='1" }), 400, 'body.hostname');
    expectRefusal(await create({ hostname: 'acme.api-us1.com;rm -rf /' }), 400, 'body.hostname');
    expectRefusal(
      await stack.call('POST', 'exports', { body: exportBody(connectionId, { segments: ["x' or '1'='1"] }) }),
      400,
      'body.segments.0',
    );
    expectRefusal(
      await stack.call('POST', 'exports', { body: exportBody(connectionId, { name: '{{7*7}}<img src=x>' }) }),
      400,
      'body.name',
    );
    expectRefusal(
      await stack.call('POST', 'exports', { body: exportBody("' OR 1=1 --") }),
      400,
      'body.connectionId',
    );
    expectRefusal(await stack.call('GET', "connections?continuation=' or PartitionKey ne '"), 400);
  });

  it('refuses path traversal in ids and segment names', async () => {
    for (const id of [
      '..%2F..%2Fetc%2Fpasswd',
      '..',
      '%2e%2e',
      'a%00b',
      "x'%20or%20'1'%3D'1",
      'Connections',
    ]) {
      const res = await stack.call('GET', `connections/${id}`);
      expect([400, 404]).toContain(res.status);
      expectRefusal(res, res.status);
    }
    expectRefusal(
      await stack.call('PATCH', 'exports/..%2F..%2Fconnections', { body: { name: 'x' } }),
      400,
      'path.id',
    );
    expectRefusal(await stack.call('DELETE', 'exports/not-a-uuid'), 400, 'path.id');
    for (const segment of ['../Newsletter', 'Newsletter/../../x', '.hidden', 'a\\b', 'seg\u0000']) {
      expectRefusal(
        await stack.call('POST', 'exports', { body: exportBody(connectionId, { segments: [segment] }) }),
        400,
        'body.segments.0',
      );
    }
  });

  it.each([
    ['localhost', 'localhost'],
    ['loopback IPv4', '127.0.0.1'],
    ['loopback IPv6', '[::1]'],
  ])(
    'refuses a hostname aimed at %s, by the rule or (with the sandbox flag on) by verification',
    async (_what, hostname) => {
      // This stack runs with ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP (the sandbox is on loopback), so bare
      // loopback passes the host rule and fails verification; with the flag off the rule refuses it
      // ('loopback' rule, test/unit/adapters/activecampaign/host.test.ts). Either way: 4xx, nothing stored.
      const res = await create({ hostname });
      expect([400, 422]).toContain(res.status);
      expectRefusal(res, res.status, 'body.hostname');
    },
  );

  it.each([
    ['loopback decimal', '2130706433'],
    ['loopback hex', '0x7f.0.0.1'],
    ['IPv4-mapped IPv6', '[::ffff:127.0.0.1]'],
    ['link-local', '169.254.10.10'],
    ['cloud metadata (AWS/Azure)', '169.254.169.254'],
    ['cloud metadata (Alibaba)', '100.100.100.200'],
    ['cloud metadata by name', 'metadata.google.internal'],
    ['Azure IMDS with a path', '169.254.169.254/metadata/instance'],
    ['private 10/8', '10.0.0.5'],
    ['private 172.16/12', '172.16.3.4'],
    ['private 192.168/16', '192.168.0.10'],
    ['private IPv6', '[fd00::5]'],
    ['user-info trick', 'acme.api-us1.com@169.254.169.254'],
    ['user-info with password', 'user:pass@acme.api-us1.com'],
    ['backslash trick', 'acme.api-us1.com\\@169.254.169.254'],
    ['scheme', 'http://acme.api-us1.com'],
    ['port', 'acme.api-us1.com:8080'],
    ['unicode look-alike (Cyrillic a)', 'аcme.api-us1.com'],
    ['unicode dots', 'acme．api-us1．com'],
    ['punycode', 'xn--cme-8cd.api-us1.com'],
    ['suffix as a prefix', 'acme.api-us1.com.attacker.example'],
    ['over-long label', `${'a'.repeat(64)}.api-us1.com`],
    ['over-long name', `${'abcdefghi.'.repeat(26)}api-us1.com`],
  ])('refuses a hostname aimed at %s and says which rule', async (_what, hostname) => {
    const res = await create({ hostname });
    expectRefusal(res, 400, 'body.hostname');
    expect(res.json.error.details[0].message).not.toContain(API_KEY);
  });

  it('refuses a loopback host other than the sandbox port form (no port, wrong form) only by the rule, never by reaching it', async () => {
    // With ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP on (as in this stack), a loopback host is allowed: it is
    // reached over http and refused by verification, never stored.
    const res = await create({ hostname: '127.0.0.1:9' });
    expectRefusal(res, 422, 'body.hostname');
  });

  it('stored nothing and leaked no key', async () => {
    expect(await stack.entities('Connections')).toEqual(baseline.connections);
    expect(await stack.entities('Exports')).toEqual(baseline.exports);
    expect(JSON.stringify(stack.keyVault.snapshot())).toBe(baseline.vault);
    const everything = [...stack.transcript, logText(stack)].join('\n');
    expect(everything).not.toContain(API_KEY);
  });
});
