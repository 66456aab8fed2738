/**
 * Staged slices, read once per process: a slice is read by its Push and by every look of its reconcile
 * sub-orchestration, and inflating and parsing 12,500 contacts each time cost more than the look itself.
 * Slices never change once staged, so a cached one is always current; the cache holds the last few.
 */
import type { ContainerClient } from '@azure/storage-blob';

import { readSlice, type StagedSlice } from '../adapters/blob/slices';

/** Slices kept (a push lane and its reconcile touch two at a time; a run has at most 16 lanes). */
const KEPT = 32;
const cache = new Map<string, Promise<StagedSlice>>();

/** The staged slice at `blobName` (read from `container` the first time). */
export function cachedSlice(container: ContainerClient, blobName: string): Promise<StagedSlice> {
  const key = `${container.url}|${blobName}`;
  let slice = cache.get(key);
  if (slice) {
    cache.delete(key);
  } else {
    slice = readSlice(container, blobName);
    slice.catch(() => cache.delete(key));
  }
  cache.set(key, slice);
  while (cache.size > KEPT) cache.delete(cache.keys().next().value!);
  return slice;
}
