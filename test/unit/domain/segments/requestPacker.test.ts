import { describe, expect, it } from 'vitest';

import { bulkContactJson, type Contact } from '../../../../shared/domain/segments/contact';
import { BulkContactEncoder } from '../../../../shared/domain/segments/jsonBuffer';
import {
  DEFAULT_PACKING_LIMITS,
  type PackedSlice,
  RequestPacker,
} from '../../../../shared/domain/segments/requestPacker';

interface SliceFile {
  requests: {
    contactCount: number;
    bytes: number;
    body: { contacts: unknown[]; exclude_automations: boolean };
  }[];
}

function pack(contacts: string[], limits = DEFAULT_PACKING_LIMITS): SliceFile[] {
  const slices: PackedSlice[] = [];
  const packer = new RequestPacker(limits, (s) => slices.push(s));
  for (const c of contacts) packer.add(c, Buffer.byteLength(c));
  packer.flush();
  return slices.map((s) => JSON.parse(s.json) as SliceFile);
}

describe('RequestPacker', () => {
  it('splits by count at 250 contacts when contacts are small', () => {
    const contacts = Array.from({ length: 1001 }, (_, i) => JSON.stringify({ email: `p${i}@example.com` }));
    const requests = pack(contacts).flatMap((s) => s.requests);
    expect(requests.map((r) => r.contactCount)).toEqual([250, 250, 250, 250, 1]);
    const fourPerSlice = { ...DEFAULT_PACKING_LIMITS, requestsPerSlice: 4 };
    expect(pack(contacts, fourPerSlice).map((s) => s.requests.length)).toEqual([4, 1]);
  });

  it('closes a slice at fifty requests (12,500 small contacts) by default', () => {
    const contacts = Array.from({ length: 12_501 }, (_, i) => JSON.stringify({ email: `p${i}@example.com` }));
    const slices = pack(contacts);
    expect(slices.map((s) => s.requests.length)).toEqual([50, 1]);
    expect(slices.map((s) => s.requests.reduce((n, r) => n + r.contactCount, 0))).toEqual([12_500, 1]);
  });

  it('splits by exact serialised bytes, under 400,000, when field values are huge', () => {
    const contacts = Array.from({ length: 300 }, (_, i) =>
      JSON.stringify({
        email: `p${i}@example.com`,
        fields: [{ id: 1, value: 'é'.repeat(2000 + i) }],
        subscribe: [{ listid: 1 }],
      }),
    );
    const requests = pack(contacts).flatMap((s) => s.requests);
    expect(requests.length).toBeGreaterThan(2);
    let total = 0;
    for (const r of requests) {
      const sent = JSON.stringify(r.body);
      expect(Buffer.byteLength(sent)).toBe(r.bytes);
      expect(r.bytes).toBeLessThanOrEqual(399_999);
      expect(r.body.exclude_automations).toBe(true);
      total += r.contactCount;
    }
    expect(total).toBe(300);
    // Each request is full: the next contact would not have fitted.
    let offset = 0;
    for (const r of requests.slice(0, -1)) {
      offset += r.contactCount;
      expect(r.bytes + 1 + Buffer.byteLength(contacts[offset]!)).toBeGreaterThan(399_999);
    }
  });

  it('writes string values as the UTF-8 bytes of JSON.stringify when they mix 1-, 2-, 3- and 4-byte characters, escapes and lone surrogates', () => {
    const pieces = [
      'a',
      ' ',
      '~',
      '\u007f',
      '\u0080',
      'é',
      '\u07ff',
      '\u0800',
      '€',
      '\uffff',
      '😀',
      '\ud800',
      '\udfff',
      '"',
      '\\',
      '\n',
      '\u0001',
      '/',
    ];
    let seed = 11;
    const values: string[] = [];
    for (let n = 0; n < 500; n++) {
      let value = '';
      for (let k = 0; k < n % 9; k++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        value += pieces[seed % pieces.length];
      }
      values.push(value);
    }
    const slices: PackedSlice[] = [];
    const packer = new RequestPacker(DEFAULT_PACKING_LIMITS, (s) => slices.push(s));
    const sizes = values.map((v) => {
      packer.beginContact();
      packer.string(v);
      return packer.endContact();
    });
    packer.flush();
    expect(sizes).toEqual(values.map((v) => Buffer.byteLength(JSON.stringify(v))));
    const bodies = slices.flatMap(
      (s) => (JSON.parse(s.json) as { requests: { body: { contacts: unknown[] } }[] }).requests,
    );
    expect(bodies.flatMap((r) => r.body.contacts)).toEqual(values);
    const firstBody = `{"contacts":[${values
      .slice(0, 250)
      .map((v) => JSON.stringify(v))
      .join(',')}],"exclude_automations":true}`;
    expect(Buffer.from(slices[0]!.bytes).includes(Buffer.from(firstBody))).toBe(true);
  });

  it('reuses a released slice buffer for a later slice, and never the buffer of a slice not released', () => {
    const contacts = Array.from({ length: 5_000 }, (_, i) => JSON.stringify({ email: `r${i}@example.com` }));
    const limits = { ...DEFAULT_PACKING_LIMITS, requestsPerSlice: 2 };
    const expected = pack(contacts, limits).map((s) => JSON.stringify(s));
    const atRelease: string[] = [];
    const held: PackedSlice[] = [];
    const buffers = new Set<ArrayBufferLike>();
    const packer = new RequestPacker(limits, (s) => {
      buffers.add(s.bytes.buffer);
      // Odd slices are stored at once and released; even ones are held to the end, never released.
      if (s.number % 2) {
        atRelease[s.number - 1] = s.json;
        s.release();
      } else held.push(s);
    });
    for (const c of contacts) packer.add(c, Buffer.byteLength(c));
    packer.flush();
    expect(expected.length).toBe(10);
    for (const s of held) atRelease[s.number - 1] = s.json;
    expect(atRelease).toEqual(expected);
    // Five held slices own five buffers; the five released ones shared one.
    expect(buffers.size).toBe(6);
    // A released slice cannot be read any more (its buffer is another slice's now); releasing twice is a no-op.
    const released = new RequestPacker(limits, (s) => {
      s.release();
      s.release();
      expect(() => s.bytes).toThrow(/was released/);
      expect(() => s.json).toThrow(/was released/);
    });
    for (const c of contacts.slice(0, 2_000)) released.add(c, Buffer.byteLength(c));
    released.flush();
  });

  it('refuses a contact that cannot fit in any request', () => {
    const packer = new RequestPacker(DEFAULT_PACKING_LIMITS, () => undefined);
    expect(packer.tooLarge(399_999)).toBe(true);
    expect(packer.tooLarge(1_000)).toBe(false);
  });

  it('encodes a contact (BulkContactEncoder) to exactly the bytes of bulkContactJson when values need escaping or are not ASCII', () => {
    const contacts: Contact[] = [
      { email: 'a@example.com', firstName: 'Ann', lastName: '', phone: '', tags: [], fields: [] },
      {
        email: 'a"b@example.com',
        firstName: 'Zoë "Z"',
        lastName: 'O\\Brien',
        phone: '+1\n555\u007f',
        tags: ['vip', 'ü', '\ud800'],
        fields: [
          { id: 3, value: '😀' },
          { id: 4, value: 'x'.repeat(70_000) },
        ],
      },
      // Only the second field: the first one written opens the array.
      {
        email: 'c@example.com',
        firstName: '',
        lastName: 'Lee',
        phone: '',
        tags: [],
        fields: [{ id: 4, value: 'y' }],
      },
    ];
    const slices: PackedSlice[] = [];
    const packer = new RequestPacker(DEFAULT_PACKING_LIMITS, (s) => slices.push(s));
    // Field ids 3 and 4 in that order; a contact without a value for one sends no entry for it.
    const encoder = new BulkContactEncoder(7, [3, 4]);
    const sizes = contacts.map((c) => {
      packer.beginContact();
      const values = [3, 4].map((id) => c.fields.find((f) => f.id === id)?.value ?? '');
      encoder.write(packer, c.email, c.firstName, c.lastName, c.phone, c.tags, values);
      return packer.endContact();
    });
    packer.flush();
    const expected = contacts.map((c) => bulkContactJson(c, 7));
    expect(sizes).toEqual(expected.map((j) => Buffer.byteLength(j)));
    const body = `{"contacts":[${expected.join(',')}],"exclude_automations":true}`;
    expect(slices[0]!.json).toBe(
      `{"version":1,"slice":1,"requests":[{"contactCount":${contacts.length},"bytes":${Buffer.byteLength(body)},"body":${body}}]}`,
    );
    expect(Buffer.from(slices[0]!.bytes).toString('utf8')).toBe(slices[0]!.json);
  });

  it("copies the open request's contacts out of a buffer it is told to detach from", () => {
    const slices: PackedSlice[] = [];
    const packer = new RequestPacker({ ...DEFAULT_PACKING_LIMITS, maxContactsPerRequest: 3 }, (s) =>
      slices.push(s),
    );
    /** Contacts as a row preparer writes them: JSON, a comma after each; returns the bytes and ranges. */
    const encode = (emails: string[]) => {
      const parts = emails.map((e) => JSON.stringify({ email: e }));
      const bytes = new TextEncoder().encode(parts.map((p) => `${p},`).join(''));
      let at = 0;
      const ranges = parts.map((p) => [at, (at += p.length) - 0] as const).map(([f, t], i) => [f + i, t + i]);
      return { bytes, ranges };
    };
    const first = encode(['a@x.io', 'b@x.io']);
    const second = encode(['c@x.io', 'd@x.io']);
    for (const [from, to] of first.ranges) packer.addEncoded(first.bytes, from!, to!);
    packer.detach(first.bytes.buffer);
    first.bytes.fill(0x20);
    // The third contact fills the request; the fourth closes it (with first's copied contacts) and opens the next.
    for (const [from, to] of second.ranges) packer.addEncoded(second.bytes, from!, to!);
    packer.detach(second.bytes.buffer);
    packer.detach(new ArrayBuffer(8)); // not read from: nothing to do
    second.bytes.fill(0x20);
    packer.flush();
    const requests = slices.flatMap((s) => (JSON.parse(s.json) as SliceFile).requests);
    expect(requests.map((r) => r.body.contacts)).toEqual([
      [{ email: 'a@x.io' }, { email: 'b@x.io' }, { email: 'c@x.io' }],
      [{ email: 'd@x.io' }],
    ]);
    expect(requests.map((r) => r.bytes)).toEqual(
      requests.map((r) => Buffer.byteLength(JSON.stringify(r.body))),
    );
  });

  it('keeps a request that spans many detached batches whole, while its own copies grow', () => {
    const slices: PackedSlice[] = [];
    const packer = new RequestPacker(DEFAULT_PACKING_LIMITS, (s) => slices.push(s));
    const expected: { email: string; note: string }[] = [];
    // 60 batches of 5 distinct ~900-byte contacts: the 250-contact request spans 50 of them (~225 KB of
    // copies, so the packer's own memory grows inside detach), then a second request starts.
    for (let b = 0; b < 60; b++) {
      const contacts = Array.from({ length: 5 }, (_, i) => ({
        email: `p${b}.${i}@x.io`,
        note: String.fromCharCode(97 + ((b + i) % 26)).repeat(880),
      }));
      expected.push(...contacts);
      const text = contacts.map((c) => `${JSON.stringify(c)},`).join('');
      const bytes = new TextEncoder().encode(text);
      let at = 0;
      for (const c of contacts) {
        const length = JSON.stringify(c).length;
        packer.addEncoded(bytes, at, at + length);
        at += length + 1;
      }
      packer.detach(bytes.buffer);
      bytes.fill(0x20);
    }
    packer.flush();
    const requests = slices.flatMap((s) => (JSON.parse(s.json) as SliceFile).requests);
    expect(requests.map((r) => r.contactCount)).toEqual([250, 50]);
    expect(requests.flatMap((r) => r.body.contacts)).toEqual(expected);
  });

  it('keeps its own memory one request large when it detaches after every batch', () => {
    const packer = new RequestPacker(DEFAULT_PACKING_LIMITS, () => undefined);
    const contact = new TextEncoder().encode(`${JSON.stringify({ email: 'someone@example.com' })},`);
    for (let batch = 0; batch < 2_000; batch++) {
      for (let i = 0; i < 7; i++) packer.addEncoded(contact, 0, contact.length - 1);
      packer.detach(contact.buffer);
    }
    packer.flush();
    expect(packer.totals.contacts).toBe(14_000);
    // 250 contacts of ~32 bytes per request: the copies start over with each request.
    expect(packer.bytes.length).toBeLessThanOrEqual(64 * 1024);
  });
});
