/** Test helpers for the shared Azurite instance started by globalSetup. */
import { randomUUID } from 'node:crypto';

import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { inject } from 'vitest';

/** The run-wide Azurite connection string. */
export function azuriteConnectionString(): string {
  return inject('azuriteConnectionString');
}

/** A new, uniquely named, empty container in the shared Azurite. */
export async function freshContainer(prefix = 'test'): Promise<ContainerClient> {
  const service = BlobServiceClient.fromConnectionString(azuriteConnectionString());
  const name = `${prefix}-${randomUUID().slice(0, 8)}`.toLowerCase();
  const container = service.getContainerClient(name);
  await container.create();
  return container;
}
