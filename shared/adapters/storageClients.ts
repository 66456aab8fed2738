/**
 * Clients for the app's storage, built from its settings in one place:
 * - the host's own account (`AzureWebJobsStorage` connection string locally, or identity-based
 *   `AzureWebJobsStorage__accountName` in Azure): the records tables and the work container;
 * - the segment account (`SEGMENT_STORAGE_CONNECTION_STRING`, or `SEGMENT_STORAGE_ACCOUNT_URL` with the
 *   app's managed identity): where segment files land.
 * https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
 */
import type { TokenCredential } from '@azure/core-auth';
import { TableClient } from '@azure/data-tables';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';

import type { Config } from '../config';
import { ConfigError } from '../errors';

type StorageConfig = Pick<
  Config,
  | 'AzureWebJobsStorage'
  | 'AzureWebJobsStorage__accountName'
  | 'AzureWebJobsStorage__clientId'
  | 'AZURE_CLIENT_ID'
  | 'LOCAL_DEV_MODE'
>;

/** The credential for identity-based connections: the managed identity in Azure, the developer's locally. */
export function appCredential(
  config: Pick<Config, 'AZURE_CLIENT_ID' | 'LOCAL_DEV_MODE'>,
  clientId?: string,
): TokenCredential {
  if (config.LOCAL_DEV_MODE) return new DefaultAzureCredential();
  const id = clientId ?? config.AZURE_CLIENT_ID;
  return id ? new ManagedIdentityCredential({ clientId: id }) : new ManagedIdentityCredential();
}

function hostAccountName(config: StorageConfig): string {
  if (config.AzureWebJobsStorage__accountName) return config.AzureWebJobsStorage__accountName;
  throw new ConfigError([
    {
      field: 'AzureWebJobsStorage',
      message:
        'set a connection string, or AzureWebJobsStorage__accountName for an identity-based connection',
    },
  ]);
}

/** A client for one table of the host's storage account. */
export function hostTableClient(config: StorageConfig, tableName: string): TableClient {
  if (config.AzureWebJobsStorage) {
    return TableClient.fromConnectionString(config.AzureWebJobsStorage, tableName, {
      allowInsecureConnection: /^UseDevelopmentStorage=true|http:\/\//i.test(config.AzureWebJobsStorage),
    });
  }
  const account = hostAccountName(config);
  return new TableClient(
    `https://${account}.table.core.windows.net`,
    tableName,
    appCredential(config, config.AzureWebJobsStorage__clientId),
  );
}

/** A container of the host's storage account (e.g. `WORK_CONTAINER`). */
export function hostContainerClient(config: StorageConfig, containerName: string): ContainerClient {
  if (config.AzureWebJobsStorage) {
    return BlobServiceClient.fromConnectionString(config.AzureWebJobsStorage).getContainerClient(
      containerName,
    );
  }
  const account = hostAccountName(config);
  return new BlobServiceClient(
    `https://${account}.blob.core.windows.net`,
    appCredential(config, config.AzureWebJobsStorage__clientId),
  ).getContainerClient(containerName);
}

/** The container segment files land in (`SEGMENT_CONTAINER` of the segment account). */
export function segmentContainerClient(
  config: Pick<
    Config,
    | 'SEGMENT_STORAGE_CONNECTION_STRING'
    | 'SEGMENT_STORAGE_ACCOUNT_URL'
    | 'SEGMENT_CONTAINER'
    | 'AZURE_CLIENT_ID'
    | 'LOCAL_DEV_MODE'
  >,
): ContainerClient {
  if (config.SEGMENT_STORAGE_CONNECTION_STRING) {
    return BlobServiceClient.fromConnectionString(
      config.SEGMENT_STORAGE_CONNECTION_STRING,
    ).getContainerClient(config.SEGMENT_CONTAINER);
  }
  if (config.SEGMENT_STORAGE_ACCOUNT_URL) {
    return new BlobServiceClient(
      config.SEGMENT_STORAGE_ACCOUNT_URL,
      appCredential(config),
    ).getContainerClient(config.SEGMENT_CONTAINER);
  }
  throw new ConfigError([
    {
      field: 'SEGMENT_STORAGE_CONNECTION_STRING',
      message: 'set it, or SEGMENT_STORAGE_ACCOUNT_URL for an identity-based connection',
    },
  ]);
}
