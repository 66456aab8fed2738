/**
 * Starts one in-memory Azurite for the whole test run and hands its connection string to the tests
 * (`inject('azuriteConnectionString')`). Tests isolate themselves with unique container/table names.
 */
import type { TestProject } from 'vitest/node';

import { startAzurite } from '../../dev/azurite';

declare module 'vitest' {
  export interface ProvidedContext {
    azuriteConnectionString: string;
    azuriteBlobEndpoint: string;
    azuriteTableEndpoint: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const azurite = await startAzurite();
  project.provide('azuriteConnectionString', azurite.connectionString);
  project.provide('azuriteBlobEndpoint', azurite.blobEndpoint);
  project.provide('azuriteTableEndpoint', azurite.tableEndpoint);
  return () => azurite.stop();
}
