/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment -- response bodies are checked with expect(), not typed */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  API_KEY,
  type ApiStack,
  connectionBody,
  CONTRIBUTOR,
  exportBody,
  logText,
  NOBODY,
  OTHER_KEY,
  startApiStack,
} from './harness';

let stack: ApiStack;

beforeAll(async () => {
  stack = await startApiStack();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const secretNames = () => stack.keyVault.snapshot().secrets.map((s) => s.name);

/** Creates a connection as the admin; returns its id and ETag. */
async function createConnection(
  overrides: Record<string, unknown> = {},
): Promise<{ id: string; etag: string }> {
  const res = await stack.call('POST', 'connections', { body: connectionBody(stack, overrides) });
  expect(res.status, res.text).toBe(201);
  return { id: res.json.id as string, etag: res.headers.get('etag')! };
}

describe('connections API', () => {
  it('creates a connection after verifying it, keeps the key only in Key Vault and records the export user', async () => {
    const res = await stack.call('POST', 'connections', {
      body: connectionBody(stack, { allowContributors: true }),
    });
    expect(res.status, res.text).toBe(201);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(res.headers.get('etag')).toMatch(/\S/);
    expect(res.json).toMatchObject({
      type: 'ActiveCampaign',
      displayName: 'Sandbox account',
      hostname: stack.sandbox.hostForClient,
      allowContributors: true,
      exportUser: 'Ada Admin',
      createdBy: 'admin-1',
      dataPrivacyAcceptedBy: 'admin-1',
    });
    expect(res.json).not.toHaveProperty('apiKey');
    const secret = stack.keyVault.snapshot().secrets.find((s) => s.name === res.json.secretName);
    expect(secret?.versions.at(-1)?.value).toBe(API_KEY);
    // It called users/me on the sandbox before saving.
    const requests = stack.sandbox.state.log;
    expect(JSON.stringify(requests)).toContain('users/me');
  });

  it('acts as the local admin when local dev mode is on and a loopback request has no principal', async () => {
    const res = await stack.call('POST', 'connections', { body: connectionBody(stack), principal: null });
    expect(res.status, res.text).toBe(201);
    expect(res.json).toMatchObject({ createdBy: 'local-admin', exportUser: 'local-admin' });
  });

  it('answers 401 when the request has no principal and did not come straight from loopback', async () => {
    const res = await stack.call('GET', 'connections', {
      principal: null,
      headers: { 'x-forwarded-for': '203.0.113.7' },
    });
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe('unauthenticated');
  });

  it('refuses creation without data privacy consent, naming the field', async () => {
    const before = await stack.entities('Connections');
    const res = await stack.call('POST', 'connections', {
      body: connectionBody(stack, { acceptDataPrivacy: false }),
    });
    expect(res.status).toBe(400);
    expect(res.json.error.details).toEqual([
      { path: 'body.acceptDataPrivacy', message: expect.stringContaining('data privacy') },
    ]);
    expect(await stack.entities('Connections')).toEqual(before);
  });

  it.each([
    [
      'a bad key',
      { apiKey: 'not-the-key-0000' },
      'activecampaign_bad_key',
      'body.apiKey',
      /refused the API key/,
    ],
    [
      'an unknown host',
      { hostname: 'nobody-here.invalid' },
      'activecampaign_unknown_host',
      'body.hostname',
      /unknown host/,
    ],
    [
      'an unreachable host',
      { hostname: '127.0.0.1:1' },
      'activecampaign_unreachable',
      'body.hostname',
      /unreachable/,
    ],
  ])(
    'answers 422 naming the cause and stores nothing when verification fails with %s',
    async (_what, overrides, code, field, message) => {
      const rows = await stack.entities('Connections');
      const secrets = secretNames();
      const res = await stack.call('POST', 'connections', { body: connectionBody(stack, overrides) });
      expect(res.status, res.text).toBe(422);
      expect(res.json.error.code).toBe(code);
      expect(res.json.error.details[0]).toEqual({ path: field, message: expect.stringMatching(message) });
      expect(res.text).not.toContain('not-the-key-0000');
      expect(await stack.entities('Connections')).toEqual(rows);
      expect(secretNames()).toEqual(secrets);
    },
  );

  it('shows contributors only shared connections, as id, displayName and type', async () => {
    const shared = await createConnection({ allowContributors: true, displayName: 'Shared' });
    const privateOne = await createConnection({ displayName: 'Private' });
    const list = await stack.call('GET', 'connections', { principal: CONTRIBUTOR });
    expect(list.status).toBe(200);
    expect(list.json.next).toBeNull();
    const ids = (list.json.items as Array<{ id: string }>).map((c) => c.id);
    expect(ids).toContain(shared.id);
    expect(ids).not.toContain(privateOne.id);
    for (const item of list.json.items as object[])
      expect(Object.keys(item).sort()).toEqual(['displayName', 'id', 'type']);
    const one = await stack.call('GET', `connections/${shared.id}`, { principal: CONTRIBUTOR });
    expect(one.json).toEqual({ id: shared.id, displayName: 'Shared', type: 'ActiveCampaign' });
    expect((await stack.call('GET', `connections/${privateOne.id}`, { principal: CONTRIBUTOR })).status).toBe(
      403,
    );
    const admin = await stack.call('GET', `connections/${privateOne.id}`);
    expect(admin.json).toMatchObject({ id: privateOne.id, hostname: stack.sandbox.hostForClient });
    expect(admin.headers.get('etag')).toBe(privateOne.etag);
  });

  it('pages connection lists with limit and continuation', async () => {
    await createConnection();
    await createConnection();
    const first = await stack.call('GET', 'connections?limit=1');
    expect(first.json.items).toHaveLength(1);
    expect(first.json.next).toEqual(expect.any(String));
    const second = await stack.call(
      'GET',
      `connections?limit=1&continuation=${encodeURIComponent(first.json.next as string)}`,
    );
    expect(second.status).toBe(200);
    expect(second.json.items[0].id).not.toBe(first.json.items[0].id);
  });

  it('answers 403 to contributors and role-less principals for every admin-only connection operation', async () => {
    const { id } = await createConnection({ allowContributors: true });
    for (const principal of [CONTRIBUTOR, NOBODY]) {
      const calls = [
        stack.call('POST', 'connections', { principal, body: connectionBody(stack) }),
        stack.call('PATCH', `connections/${id}`, { principal, body: { displayName: 'x' } }),
        stack.call('DELETE', `connections/${id}`, { principal }),
        stack.call('POST', `connections/${id}/verify`, { principal }),
      ];
      for (const res of await Promise.all(calls)) {
        expect(res.status).toBe(403);
        expect(res.json.error.code).toBe('forbidden');
      }
    }
    expect((await stack.call('GET', 'connections', { principal: NOBODY })).status).toBe(403);
  });

  it('changes a connection with the current ETag and answers 412 with a stale one', async () => {
    const { id, etag } = await createConnection();
    const changed = await stack.call('PATCH', `connections/${id}`, {
      body: { displayName: 'Renamed' },
      headers: { 'if-match': etag },
    });
    expect(changed.status, changed.text).toBe(200);
    expect(changed.json.displayName).toBe('Renamed');
    const newEtag = changed.headers.get('etag');
    expect(newEtag).not.toBe(etag);
    const stale = await stack.call('PATCH', `connections/${id}`, {
      body: { displayName: 'Again' },
      headers: { 'if-match': etag },
    });
    expect(stale.status).toBe(412);
    expect(stale.json.error.code).toBe('precondition_failed');
    const staleDelete = await stack.call('DELETE', `connections/${id}`, { headers: { 'if-match': etag } });
    expect(staleDelete.status).toBe(412);
    expect((await stack.call('GET', `connections/${id}`)).json.displayName).toBe('Renamed');
  });

  it('re-verifies a new key and writes it as a new secret version, and keeps the old one when the new key is bad', async () => {
    const { id } = await createConnection();
    const secretName = (await stack.call('GET', `connections/${id}`)).json.secretName as string;
    const versions = () => stack.keyVault.snapshot().secrets.find((s) => s.name === secretName)!.versions;
    const bad = await stack.call('PATCH', `connections/${id}`, { body: { apiKey: 'wrong-key-1234' } });
    expect(bad.status).toBe(422);
    expect(versions()).toHaveLength(1);
    const good = await stack.call('PATCH', `connections/${id}`, { body: { apiKey: OTHER_KEY } });
    expect(good.status, good.text).toBe(200);
    expect(versions().map((v) => v.value)).toEqual([API_KEY, OTHER_KEY]);
  });

  it('verifies a stored connection again and records when', async () => {
    const { id } = await createConnection();
    const res = await stack.call('POST', `connections/${id}/verify`);
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({
      verified: true,
      connection: { id, lastVerifiedAt: res.json.verifiedAt },
    });
  });

  it('answers 404 for a connection that does not exist', async () => {
    const res = await stack.call('GET', 'connections/00000000-0000-4000-8000-000000000000');
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe('not_found');
  });
});

describe('exports API', () => {
  let shared: string;
  let privateConnection: string;

  beforeAll(async () => {
    shared = (await createConnection({ allowContributors: true, displayName: 'Shared for exports' })).id;
    privateConnection = (await createConnection({ displayName: 'Admins only' })).id;
  });

  it('creates an export after checking its list and segments, with defaults, and never runs it', async () => {
    const before = stack.sandbox.state.log.length;
    const res = await stack.call('POST', 'exports', {
      body: exportBody(shared, {
        segments: ['Newsletter', 'vip'],
        mapping: { email: 'Email', tags: { fixed: ['from-api'] } },
      }),
    });
    expect(res.status, res.text).toBe(201);
    expect(res.json).toMatchObject({
      connectionId: shared,
      listId: 1,
      schedule: 'off',
      membership: 'add',
      createdBy: 'admin-1',
    });
    expect(res.headers.get('etag')).toMatch(/\S/);
    const sent = JSON.stringify(stack.sandbox.state.log.slice(before));
    expect(sent).toContain('lists/1');
    expect(sent).not.toContain('bulk_import');
  });

  it('answers 422 naming the list when the list does not exist in the account', async () => {
    const res = await stack.call('POST', 'exports', { body: exportBody(shared, { listId: 999 }) });
    expect(res.status).toBe(422);
    expect(res.json.error).toMatchObject({
      code: 'activecampaign_list_not_found',
      details: [{ path: 'body.listId', message: expect.stringContaining('list 999') }],
    });
  });

  it('answers 422 naming each segment segment storage does not hold', async () => {
    const res = await stack.call('POST', 'exports', {
      body: exportBody(shared, { segments: ['Newsletter', 'Nope', 'AlsoNope'] }),
    });
    expect(res.status).toBe(422);
    expect(res.json.error.details).toEqual([
      { path: 'body.segments.1', message: 'segment "Nope" was not found in segment storage' },
      { path: 'body.segments.2', message: 'segment "AlsoNope" was not found in segment storage' },
    ]);
  });

  it('answers 400 when the connection does not exist', async () => {
    const res = await stack.call('POST', 'exports', {
      body: exportBody('00000000-0000-4000-8000-000000000000'),
    });
    expect(res.status).toBe(400);
    expect(res.json.error.details[0].path).toBe('body.connectionId');
  });

  it('lets contributors manage exports on shared connections only', async () => {
    const mine = await stack.call('POST', 'exports', {
      principal: CONTRIBUTOR,
      body: exportBody(shared, { name: 'Contributor export' }),
    });
    expect(mine.status, mine.text).toBe(201);
    const denied = await stack.call('POST', 'exports', {
      principal: CONTRIBUTOR,
      body: exportBody(privateConnection),
    });
    expect(denied.status).toBe(403);
    const adminOnly = await stack.call('POST', 'exports', {
      body: exportBody(privateConnection, { name: 'Admin export' }),
    });
    expect(adminOnly.status).toBe(201);
    const list = await stack.call('GET', 'exports', { principal: CONTRIBUTOR });
    const ids = (list.json.items as Array<{ id: string }>).map((e) => e.id);
    expect(ids).toContain(mine.json.id);
    expect(ids).not.toContain(adminOnly.json.id);
    expect((await stack.call('GET', `exports/${adminOnly.json.id}`, { principal: CONTRIBUTOR })).status).toBe(
      403,
    );
    expect(
      (
        await stack.call('PATCH', `exports/${adminOnly.json.id}`, {
          principal: CONTRIBUTOR,
          body: { name: 'x' },
        })
      ).status,
    ).toBe(403);
    expect(
      (await stack.call('DELETE', `exports/${adminOnly.json.id}`, { principal: CONTRIBUTOR })).status,
    ).toBe(403);
    const moved = await stack.call('PATCH', `exports/${mine.json.id}`, {
      principal: CONTRIBUTOR,
      body: { connectionId: privateConnection },
    });
    expect(moved.status).toBe(403);
    const changed = await stack.call('PATCH', `exports/${mine.json.id}`, {
      principal: CONTRIBUTOR,
      body: { schedule: 'refresh', membership: 'mirror' },
    });
    expect(changed.status, changed.text).toBe(200);
    expect(changed.json).toMatchObject({ schedule: 'refresh', membership: 'mirror', updatedBy: 'contrib-1' });
    expect((await stack.call('DELETE', `exports/${mine.json.id}`, { principal: CONTRIBUTOR })).status).toBe(
      204,
    );
    expect((await stack.call('GET', `exports/${mine.json.id}`)).status).toBe(404);
  });

  it('answers 412 for a stale ETag on export PATCH and DELETE and checks a changed list', async () => {
    const created = await stack.call('POST', 'exports', { body: exportBody(shared) });
    const id = created.json.id as string;
    const etag = created.headers.get('etag')!;
    const renamed = await stack.call('PATCH', `exports/${id}`, {
      body: { name: 'Renamed' },
      headers: { 'if-match': etag },
    });
    expect(renamed.status).toBe(200);
    expect(
      (await stack.call('PATCH', `exports/${id}`, { body: { name: 'Stale' }, headers: { 'if-match': etag } }))
        .status,
    ).toBe(412);
    expect((await stack.call('DELETE', `exports/${id}`, { headers: { 'if-match': etag } })).status).toBe(412);
    expect((await stack.call('PATCH', `exports/${id}`, { body: { listId: 998 } })).status).toBe(422);
    const relisted = await stack.call('PATCH', `exports/${id}`, { body: { listId: 2 } });
    expect(relisted.json.listId).toBe(2);
    const current = relisted.headers.get('etag')!;
    expect((await stack.call('DELETE', `exports/${id}`, { headers: { 'if-match': current } })).status).toBe(
      204,
    );
  });

  it('answers 409 when deleting a connection exports use, and detaches them with ?detach=true', async () => {
    const { id: connectionId } = await createConnection({ displayName: 'To delete' });
    const secretName = (await stack.call('GET', `connections/${connectionId}`)).json.secretName as string;
    const a = await stack.call('POST', 'exports', { body: exportBody(connectionId, { name: 'A' }) });
    const b = await stack.call('POST', 'exports', { body: exportBody(connectionId, { name: 'B' }) });
    const conflict = await stack.call('DELETE', `connections/${connectionId}`);
    expect(conflict.status).toBe(409);
    expect(conflict.json.error.message).toMatch(/used by 2 export/);
    expect(conflict.json.error.message).toContain(a.json.id);
    const detached = await stack.call('DELETE', `connections/${connectionId}?detach=true`);
    expect(detached.status, detached.text).toBe(204);
    expect(detached.text).toBe('');
    for (const e of [a, b]) {
      const after = await stack.call('GET', `exports/${e.json.id}`);
      expect(after.json).toMatchObject({ name: e.json.name, connectionId: null, listId: 1 });
      // A detached export is for admins only.
      expect((await stack.call('GET', `exports/${e.json.id}`, { principal: CONTRIBUTOR })).status).toBe(403);
    }
    expect((await stack.call('GET', `connections/${connectionId}`)).status).toBe(404);
    expect(secretNames()).not.toContain(secretName);
    // Given a connection again, it is checked against it.
    const reattached = await stack.call('PATCH', `exports/${a.json.id}`, { body: { connectionId: shared } });
    expect(reattached.status, reattached.text).toBe(200);
    expect(reattached.json.connectionId).toBe(shared);
  });
});

describe('segments, OpenAPI and routing', () => {
  it('lists segments with their newest snapshot time and file count', async () => {
    const res = await stack.call('GET', 'segments', { principal: CONTRIBUTOR });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      items: [
        { name: 'Newsletter', layout: 'plain', newestSnapshotAt: expect.any(String), fileCount: 2 },
        {
          name: 'VIP',
          layout: 'customerInsights',
          newestSnapshotAt: '2024-05-02T02:00:00.000Z',
          fileCount: 1,
        },
      ],
      next: null,
    });
  });

  it('serves an OpenAPI 3.1 document covering every route', async () => {
    const res = await stack.call('GET', 'openapi.json', {
      principal: null,
      headers: { 'x-forwarded-for': '203.0.113.7' },
    });
    expect(res.status).toBe(200);
    expect(res.json.openapi).toBe('3.1.0');
    const operations = Object.entries(res.json.paths as Record<string, Record<string, unknown>>).flatMap(
      ([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(operations.sort()).toEqual(
      [
        'DELETE /api/connections/{id}',
        'DELETE /api/exports/{id}',
        'GET /api/connections',
        'GET /api/connections/{id}',
        'GET /api/exports',
        'GET /api/exports/{id}',
        'GET /api/me',
        'GET /api/openapi.json',
        'GET /api/segments',
        'PATCH /api/connections/{id}',
        'PATCH /api/exports/{id}',
        'POST /api/connections',
        'POST /api/connections/{id}/verify',
        'POST /api/exports',
        'POST /api/exports/run-all',
        'POST /api/exports/{id}/runs',
        'GET /api/exports/{id}/runs',
        'GET /api/exports/{id}/runs/{runId}',
        'POST /api/exports/{id}/runs/{runId}/cancel',
        'GET /api/exports/{id}/runs/{runId}/report',
        'GET /api/exports/{id}/runs/{runId}/rejected',
      ].sort(),
    );
    expect(
      res.json.paths['/api/connections'].post.requestBody.content['application/json'].schema.required,
    ).toEqual(expect.arrayContaining(['displayName', 'hostname', 'apiKey', 'acceptDataPrivacy']));
  });

  it('answers JSON 404 for unknown routes and JSON 405 with Allow for a wrong method', async () => {
    const missing = await stack.call('GET', 'nothing/here');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/json');
    expect(missing.json.error.code).toBe('not_found');
    const wrong = await stack.call('PUT', 'connections', { body: {} });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST, GET');
    expect(wrong.json.error.code).toBe('method_not_allowed');
    expect((await stack.call('GET', 'health')).status).toBe(200);
  });

  it('leaves the run routes to the run functions, not exports/{id}', async () => {
    const runAll = await stack.call('POST', 'exports/run-all');
    expect(runAll.status).toBe(202);
    expect(Array.isArray(runAll.json.items)).toBe(true);
    const runs = await stack.call('POST', 'exports/00000000-0000-4000-8000-000000000000/runs');
    expect(runs.status).toBe(404);
    expect(runs.json.error.code).toBe('not_found');
    expect(runs.json.error.message).toMatch(/00000000-0000-4000-8000-000000000000/);
  });
});

describe('the API key', () => {
  it('never appears in a response, a log line or a table entity', async () => {
    const everything = [
      ...stack.transcript,
      logText(stack),
      ...(await stack.entities('Connections')),
      ...(await stack.entities('Exports')),
    ].join('\n');
    expect(stack.transcript.length).toBeGreaterThan(40);
    expect(everything).toContain('secretName');
    for (const key of [API_KEY, OTHER_KEY, 'not-the-key-0000', 'wrong-key-1234'])
      expect(everything).not.toContain(key);
    // ... while Key Vault does hold it.
    expect(JSON.stringify(stack.keyVault.snapshot())).toContain(API_KEY);
  });
});
