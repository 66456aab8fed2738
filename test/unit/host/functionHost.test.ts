import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { createFunctionHost, type LocalFunctionHost } from '../../../dev/host/functionHost';
import type { HostLogEntry } from '../../../dev/host/logger';

const fixtures = path.resolve(__dirname, '../../fixtures/host-app');

describe('createFunctionHost', () => {
  let host: LocalFunctionHost | undefined;
  const logs: HostLogEntry[] = [];
  const logger = (entry: HostLogEntry) => logs.push(entry);

  afterEach(async () => {
    await host?.dispose();
    host = undefined;
    logs.length = 0;
  });

  async function basic(env?: Record<string, string>): Promise<LocalFunctionHost> {
    host = await createFunctionHost({ appDir: path.join(fixtures, 'basic'), logger, env });
    return host;
  }

  it('sees every registration of the app when it loads the main glob', async () => {
    const h = await basic();
    const names = h.functions().map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['echo', 'hello', 'items', 'withExtraInput']));
    const hello = h.getFunction('hello')!;
    expect(hello.trigger).toMatchObject({
      type: 'httpTrigger',
      route: 'hello/{name?}',
      methods: ['GET', 'POST'],
    });
    expect(hello.bindings[hello.triggerName]).toBe(hello.trigger);
    expect(h.getFunction('nope')).toBeUndefined();
  });

  it('passes objects JSON round-tripped and trigger metadata camel-cased when invoking', async () => {
    const h = await basic();
    const { returnValue } = await h.invoke(
      'echo',
      { when: new Date(0), nested: { skip: undefined, keep: 1 } },
      { triggerMetadata: { BlobTrigger: 'c/a.csv', Properties: { ETag: '"0x1"' } } },
    );
    expect(returnValue).toMatchObject({
      value: { when: '1970-01-01T00:00:00.000Z', nested: { keep: 1 } },
      valueType: 'object',
      triggerMetadata: { blobTrigger: 'c/a.csv', properties: { eTag: '"0x1"' } },
      functionName: 'echo',
    });
  });

  it('hands Buffers over as bytes when the trigger value is binary', async () => {
    const h = await basic();
    const { returnValue } = await h.invoke('echo', Buffer.from('abc'));
    expect(returnValue).toMatchObject({ isBuffer: true });
  });

  it('uses the given invocation id and logs Executing/Executed lines with it', async () => {
    const h = await basic();
    const { returnValue } = await h.invoke('echo', 'x', { invocationId: 'inv-123' });
    expect(returnValue).toMatchObject({ invocationId: 'inv-123' });
    const mine = logs.filter((l) => l.invocationId === 'inv-123');
    expect(mine.map((l) => l.message)).toEqual(
      expect.arrayContaining([
        expect.stringContaining("Executing 'Functions.echo'"),
        expect.stringContaining('echo received'),
        expect.stringContaining("Executed 'Functions.echo' (Succeeded"),
      ]),
    );
    expect(mine.find((l) => l.message.startsWith('echo received'))).toMatchObject({
      category: 'user',
      functionName: 'echo',
    });
  });

  it('returns strings as strings and drops undefined properties from JSON results', async () => {
    const h = await basic();
    expect((await h.invoke('returnsString', '42')).returnValue).toBe('got:42');
    expect((await h.invoke('returnsDate', null)).returnValue).toEqual({ when: '2024-01-02T03:04:05.000Z' });
  });

  it('rejects with the function error when the handler throws', async () => {
    const h = await basic();
    await expect(h.invoke('fails', {})).rejects.toThrow('boom from fails');
    expect(logs.some((l) => l.level === 'error' && l.message.includes('(Failed'))).toBe(true);
  });

  it('supplies extra inputs from the registered provider of their type', async () => {
    const h = await basic();
    const seen: string[] = [];
    h.registerInputProvider('testThing', (fn, bindingName, binding) => {
      seen.push(`${fn.name}/${bindingName}/${binding.type}`);
      return { provided: true, at: new Date(0) };
    });
    const { returnValue } = await h.invoke('withExtraInput', 'x');
    expect(returnValue).toEqual({ thing: { provided: true, at: '1970-01-01T00:00:00.000Z' } });
    expect(seen).toEqual(['withExtraInput/thing/testThing']);
  });

  it('prefers explicit extra inputs over the provider', async () => {
    const h = await basic();
    h.registerInputProvider('testThing', () => 'from provider');
    const { returnValue } = await h.invoke('withExtraInput', 'x', {
      extraInputs: { thing: { explicit: 1 } },
    });
    expect(returnValue).toEqual({ thing: { explicit: 1 } });
  });

  it('fails loudly when an extra input has no provider', async () => {
    const h = await basic();
    await expect(h.invoke('withExtraInput', 'x')).rejects.toThrow(
      'input binding "thing" of type "testThing" that the local host cannot supply',
    );
  });

  it('runs appStart at load, preInvocation hooks per call and appTerminate at dispose', async () => {
    const state = () => (globalThis as unknown as { __hostAppBasic: Record<string, unknown> }).__hostAppBasic;
    const h = await basic();
    const startsBefore = state().appStart as number;
    const { returnValue } = await h.invoke('echo', { rewriteMe: true });
    expect(returnValue).toMatchObject({ value: { rewritten: true }, hookSaw: 'pre-invocation-hook-ran' });
    const terminatesBefore = state().appTerminate as number;
    await h.dispose();
    host = undefined;
    expect(state().appTerminate).toBe(terminatesBefore + 1);
    // A second host reloads the app (its modules are re-required) and runs appStart again.
    await basic();
    expect(state().appStart).toBe(startsBefore + 1);
  });

  it('merges local.settings.json Values under existing environment variables', async () => {
    process.env.GREETING_SETTING = 'from the environment';
    try {
      const h = await basic();
      expect(process.env.BASIC_ONLY_IN_LOCAL_SETTINGS).toBe('from-local-settings');
      expect(h.hostJson).toMatchObject({ extensions: { custom: { greeting: 'from the environment' } } });
    } finally {
      delete process.env.GREETING_SETTING;
    }
  });

  it('lets explicit env options win over local.settings.json', async () => {
    const h = await basic({ GREETING_SETTING: 'explicit' });
    expect(h.hostJson).toMatchObject({ extensions: { custom: { greeting: 'explicit' } } });
    delete process.env.GREETING_SETTING;
  });

  it('refuses HTTP functions through invoke()', async () => {
    const h = await basic();
    await expect(h.invoke('hello', {})).rejects.toThrow('is an HTTP function');
  });

  it('reports durable usage when a function has a Durable trigger type', async () => {
    // The basic app registers its generic functions as activityTrigger, the way durable-functions does.
    const h = await basic();
    expect(h.usesDurable()).toBe(true);
  });

  it('fails loudly at start-up naming the function and trigger type when a trigger is unsupported', async () => {
    await expect(createFunctionHost({ appDir: path.join(fixtures, 'unsupported'), logger })).rejects.toThrow(
      'Function "queueWorker" uses trigger type "queueTrigger", which the local host does not support',
    );
  });

  it('fails with the app folder named when package.json main matches nothing', async () => {
    await expect(createFunctionHost({ appDir: path.join(fixtures, 'missing-app'), logger })).rejects.toThrow(
      'No package.json',
    );
  });
});
