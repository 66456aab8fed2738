import type { ContainerClient } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';

import { sliceBlobName } from '../../../../shared/adapters/blob/runFolder';
import { readSlice, SliceUploader, writeSlice } from '../../../../shared/adapters/blob/slices';
import {
  DEFAULT_PACKING_LIMITS,
  type PackedSlice,
  RequestPacker,
} from '../../../../shared/domain/segments/requestPacker';
import { AppError } from '../../../../shared/errors';
import { freshContainer } from '../../../helpers/azurite';

describe('staged slices', () => {
  it('stores a packed slice compressed and reads back exactly its requests, bodies byte for byte', async () => {
    const work = await freshContainer('slices');
    const slices: PackedSlice[] = [];
    const packer = new RequestPacker({ ...DEFAULT_PACKING_LIMITS, requestsPerSlice: 3 }, (s) =>
      slices.push(s),
    );
    const contacts = Array.from({ length: 600 }, (_, i) =>
      JSON.stringify({ email: `p${i}@exämple.de`, first_name: `Zoë "${i}"`, subscribe: [{ listid: 3 }] }),
    );
    for (const c of contacts) packer.add(c, Buffer.byteLength(c));
    packer.flush();
    const [slice] = slices;
    const json = slice!.json;
    await writeSlice(work, 'exports/e/runs/r', slice!);

    const name = sliceBlobName('exports/e/runs/r', 1);
    expect(name).toBe('exports/e/runs/r/slices/00001.json.br');
    const props = await work.getBlobClient(name).getProperties();
    expect(props.contentEncoding).toBe('br');
    expect(props.contentLength).toBeLessThan(Buffer.byteLength(json) / 4);

    const read = await readSlice(work, name);
    expect(JSON.stringify(read)).toBe(json);
    expect(read.requests.map((r) => r.contactCount)).toEqual([250, 250, 100]);
    for (const r of read.requests) expect(Buffer.byteLength(JSON.stringify(r.body))).toBe(r.bytes);
    expect(read.requests.flatMap((r) => r.body.contacts)).toEqual(
      contacts.map((c) => JSON.parse(c) as unknown),
    );
  });

  it('reads a slice a client already decompressed, and refuses one whose number or counts do not match', async () => {
    const work = await freshContainer('slices');
    const request = {
      contactCount: 1,
      bytes: 0,
      body: { contacts: [{ email: 'a@example.com' }], exclude_automations: true },
    };
    request.bytes = Buffer.byteLength(JSON.stringify(request.body));
    const put = (name: string, value: unknown) => {
      const body = JSON.stringify(value);
      return work.getBlockBlobClient(name).upload(body, Buffer.byteLength(body));
    };
    await put('r/slices/00002.json.br', { version: 1, slice: 2, requests: [request] });
    expect((await readSlice(work, 'r/slices/00002.json.br')).requests).toEqual([request]);
    await put('r/slices/00003.json.br', { version: 1, slice: 2, requests: [request] });
    await expect(readSlice(work, 'r/slices/00003.json.br')).rejects.toMatchObject({
      code: 'slice_corrupt',
      message: expect.stringContaining('holds slice 2, not slice 3') as string,
    });
    await put('r/slices/00004.json.br', {
      version: 1,
      slice: 4,
      requests: [{ ...request, contactCount: 2 }],
    });
    await expect(readSlice(work, 'r/slices/00004.json.br')).rejects.toMatchObject({
      code: 'slice_corrupt',
      message: expect.stringContaining('contactCount differs') as string,
    });
  });

  it('SliceUploader holds the reader back while unwritten slices hold more than its byte bound, and reports a failed upload', async () => {
    // Uploads that finish when the test says so.
    const pending: { name: string; finish: (error?: Error) => void }[] = [];
    let uploadStarted = () => undefined as void;
    const container = {
      getBlockBlobClient: (name: string) => ({
        upload: () =>
          new Promise<void>((resolve, reject) => {
            pending.push({ name, finish: (error) => (error ? reject(error) : resolve()) });
            uploadStarted();
          }),
      }),
    } as unknown as ContainerClient;
    // Each upload starts after its slice is compressed on libuv's pool, which takes longer on a loaded
    // machine: wait for the uploads themselves, not for a fixed time.
    const uploadsStarted = (n: number) =>
      new Promise<void>((resolve) => {
        uploadStarted = () => void (pending.length >= n && resolve());
        uploadStarted();
      });
    const slice = (n: number): PackedSlice => {
      let released = false;
      return {
        number: n,
        get bytes() {
          if (released) throw new Error('released');
          return new Uint8Array(10).fill(0x20 + n);
        },
        json: '',
        requests: 1,
        contacts: 1,
        release: () => void (released = true),
      };
    };
    const settled = async (p: Promise<void>) =>
      Promise.race([p.then(() => 'resolved'), new Promise((r) => setTimeout(() => r('waiting'), 50))]);
    const uploader = new SliceUploader(container, 'f', 4, 25);
    for (const n of [1, 2, 3]) uploader.add(slice(n));
    // 30 bytes unwritten > 25: all three start (concurrency 4), and the reader waits.
    const drained = uploader.drain();
    await uploadsStarted(3);
    expect(await settled(drained)).toBe('waiting');
    // Each upload starts when its Brotli compression (on libuv's pool) is done, in whichever order those end.
    expect(pending.map((u) => u.name).sort()).toEqual([
      'f/slices/00001.json.br',
      'f/slices/00002.json.br',
      'f/slices/00003.json.br',
    ]);
    pending[0]!.finish();
    // 20 bytes ≤ 25: reading goes on while two uploads are still in flight.
    await expect(drained).resolves.toBeUndefined();
    expect(pending).toHaveLength(3);
    pending[1]!.finish(new Error('storage said no'));
    await expect(uploader.drain(0)).rejects.toThrow('storage said no');
  });

  it('fails with the blob name when a slice is missing or not a slice', async () => {
    const work = await freshContainer('slices');
    await expect(readSlice(work, 'exports/e/runs/r/slices/00009.json.br')).rejects.toMatchObject({
      code: 'slice_missing',
      message: expect.stringContaining('00009.json.br') as string,
    });
    await work.getBlockBlobClient('bad.json.br').upload('{"version":1}', 13);
    const error: unknown = await readSlice(work, 'bad.json.br').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({
      code: 'slice_corrupt',
      message: expect.stringContaining('bad.json.br') as string,
    });
  });
});
