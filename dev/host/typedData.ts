/**
 * Host-side conversions between plain values and `RpcTypedData`, mirroring what the Functions host puts on
 * the wire and how `@azure/functions` reads it back (`converters/fromRpcTypedData.ts`,
 * `converters/toRpcTypedData.ts`). Everything that is not a string or bytes travels as JSON text, so
 * values reach the function JSON round-tripped exactly as in Azure.
 */
import type { RpcTypedData } from './coreTypes';

/** A value the host sends to the worker (trigger value, extra input, trigger metadata entry). */
export function toHostTypedData(value: unknown): RpcTypedData | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return { string: value };
  if (Buffer.isBuffer(value)) return { bytes: value };
  if (value instanceof Uint8Array) return { bytes: value };
  if (value instanceof ArrayBuffer) return { bytes: new Uint8Array(value) };
  return { json: JSON.stringify(value) };
}

/** A value the worker sent back (return value, output binding) as a plain value; `json` is parsed. */
export function fromWorkerTypedData(data: RpcTypedData | null | undefined): unknown {
  if (!data) return undefined;
  if (data.string !== undefined && data.string !== null) return data.string;
  if (data.json !== undefined && data.json !== null) return JSON.parse(data.json) as unknown;
  if (data.bytes) return Buffer.from(data.bytes);
  if (data.stream) return Buffer.from(data.stream);
  if (data.int !== undefined && data.int !== null) return Number(data.int);
  if (data.double !== undefined && data.double !== null) return data.double;
  if (data.http) return data.http;
  if (data.collectionString?.string) return data.collectionString.string;
  if (data.collectionBytes?.bytes) return data.collectionBytes.bytes.map((b) => Buffer.from(b));
  if (data.collectionDouble?.double) return data.collectionDouble.double;
  if (data.collectionSint64?.sint64) return data.collectionSint64.sint64.map(Number);
  return undefined;
}

/** Trigger metadata as the host sends it: every entry typed (strings as `string`, the rest as `json`). */
export function toHostTriggerMetadata(
  metadata: Record<string, unknown> | undefined,
): Record<string, RpcTypedData> | undefined {
  if (!metadata) return undefined;
  const result: Record<string, RpcTypedData> = {};
  for (const [key, value] of Object.entries(metadata)) {
    const typed = toHostTypedData(value);
    if (typed) result[key] = typed;
  }
  return result;
}
