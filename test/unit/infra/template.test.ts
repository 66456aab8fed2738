import fs from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  CONFIG_SETTING_NAMES,
  configSettingKind,
  type ConfigSettingName,
  parseConfig,
} from '../../../shared/config';
import {
  allResources,
  appSettings,
  type ArmResource,
  defaultSettingValue,
  onlyResource,
  readTemplate,
  resourcesOfType,
  templatePath,
  variable,
} from './template';

const template = readTemplate();
const settings = appSettings(template);

/** Built-in role definition ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles). */
const ROLE = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1',
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
};

/** Roles that would give the app more than it needs. */
const BROAD_ROLES = {
  owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24f',
  userAccessAdministrator: '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
  storageAccountContributor: '17d1049b-9a84-46fb-8f53-869881c3d3ab',
  keyVaultAdministrator: '00482a5a-887f-4fb3-b363-3b7fe8e74483',
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
};

/**
 * Settings of shared/config.ts the template deliberately does not set, with the reason. A setting added
 * to config.ts later makes the coverage test fail until the template sets it or it is named here.
 */
const LEFT_OUT: Partial<Record<ConfigSettingName, string>> = {
  AzureWebJobsStorage:
    'a connection string carries the account key; the template uses AzureWebJobsStorage__accountName with the managed identity',
  SEGMENT_STORAGE_CONNECTION_STRING:
    'a connection string carries the account key; the template uses SEGMENT_STORAGE_ACCOUNT_URL with the managed identity',
  LOCAL_DEV_MODE:
    'local development only: must never be set in Azure (identities come from App Service Authentication)',
  ACTIVECAMPAIGN_TIME_SCALE:
    'benchmarks against the time-scaled local sandbox only (refused without ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP); real ActiveCampaign runs at 1',
};

/** Stand-ins for values ARM computes at deployment (references to the resources it creates). */
const DEPLOYED_SAMPLE: Partial<Record<string, string>> = {
  AzureWebJobsStorage__accountName: 'stexample0123456',
  AzureWebJobsStorage__clientId: '00000000-0000-0000-0000-000000000001',
  AZURE_CLIENT_ID: '00000000-0000-0000-0000-000000000001',
  SEGMENT_STORAGE_ACCOUNT_URL: 'https://segments.blob.core.windows.net/',
  KEY_VAULT_URL: 'https://kv-example.vault.azure.net/',
};

/** The role definition GUID a role assignment's `roleDefinitionId` expression resolves to. */
function roleGuid(resource: ArmResource, owner: { variables: Record<string, unknown> }): string {
  const expression = (resource.properties as { roleDefinitionId: string }).roleDefinitionId;
  const viaRoles = /^\[variables\('roles'\)\.(\w+)\]$/.exec(expression);
  const viaVariable = /^\[variables\('(\w+)'\)\]$/.exec(expression);
  const resolved = viaRoles
    ? (owner.variables.roles as Record<string, string>)[viaRoles[1]!]
    : viaVariable
      ? (owner.variables[viaVariable[1]!] as string)
      : expression;
  const guid = /'([0-9a-f-]{36})'\)\]$/.exec(resolved ?? '');
  if (!guid) throw new Error(`cannot resolve role of ${resource.name}: ${expression}`);
  return guid[1]!;
}

/** Every role assignment as `<scope resource type> <role GUID>`, with its template for variables. */
function roleAssignments(): { scope: string; role: string; principalId: string }[] {
  const out: { scope: string; role: string; principalId: string }[] = [];
  const visit = (owner: { resources: ArmResource[]; variables: Record<string, unknown> }) => {
    for (const resource of owner.resources) {
      const nested = resource.properties?.template as typeof owner | undefined;
      if (nested) visit({ ...nested, variables: nested.variables ?? {} });
      if (resource.type !== 'Microsoft.Authorization/roleAssignments') continue;
      const scope =
        /^\[format\('([\w./]+)\/\{0\}'/.exec(resource.scope ?? '')?.[1] ?? `(no scope: ${resource.scope})`;
      const scopeName = /, (.+)\)\]$/.exec(resource.scope ?? '')?.[1] ?? '';
      out.push({
        scope: `${scope} ${scopeName}`,
        role: roleGuid(resource, owner),
        principalId: (resource.properties as { principalId: string }).principalId,
      });
    }
  };
  visit(template);
  return out;
}

describe('infra/main.json', () => {
  it('is an ARM deployment template with a parameters file that names only its parameters', () => {
    expect(template.$schema).toContain('deploymentTemplate.json');
    const parametersFile = JSON.parse(
      fs.readFileSync(path.join(path.dirname(templatePath), 'main.parameters.json'), 'utf8'),
    ) as { parameters: Record<string, unknown> };
    for (const name of Object.keys(parametersFile.parameters)) {
      expect(template.parameters, name).toHaveProperty(name);
    }
    const required = Object.entries(template.parameters)
      .filter(([, parameter]) => parameter.defaultValue === undefined)
      .map(([name]) => name);
    expect(required.sort()).toEqual(['authClientId', 'segmentStorageAccountName']);
    for (const name of required) expect(parametersFile.parameters, name).toHaveProperty(name);
  });

  it('deploys a Node 20 Function App on the Flex Consumption plan with one user-assigned identity', () => {
    const plan = onlyResource(template, 'Microsoft.Web/serverfarms');
    expect(plan.sku).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
    const site = onlyResource(template, 'Microsoft.Web/sites');
    expect(site.kind).toBe('functionapp,linux');
    const identity = site.identity as { type: string; userAssignedIdentities: Record<string, unknown> };
    expect(identity.type).toBe('UserAssigned');
    expect(Object.keys(identity.userAssignedIdentities)).toHaveLength(1);
    const config = site.properties!.functionAppConfig as {
      runtime: { name: string; version: string };
      deployment: { storage: { type: string; authentication: { type: string } } };
    };
    expect(config.runtime.name).toBe('node');
    expect(config.runtime.version).toBe("[parameters('nodeVersion')]");
    expect(template.parameters.nodeVersion!.defaultValue).toBe('20');
    expect(config.deployment.storage.type).toBe('blobContainer');
    expect(config.deployment.storage.authentication.type).toBe('UserAssignedIdentity');
    expect(resourcesOfType(template, 'Microsoft.ManagedIdentity/userAssignedIdentities')).toHaveLength(1);
  });

  it('serves HTTPS only with TLS 1.2, no FTP and no basic publishing credentials', () => {
    const site = onlyResource(template, 'Microsoft.Web/sites');
    expect(site.properties!.httpsOnly).toBe(true);
    const siteConfig = site.properties!.siteConfig as Record<string, unknown>;
    expect(siteConfig.minTlsVersion).toBe('1.2');
    expect(siteConfig.ftpsState).toBe('Disabled');
    const policies = resourcesOfType(template, 'Microsoft.Web/sites/basicPublishingCredentialsPolicies');
    expect(policies.map((p) => /\/(\w+)'/.exec(p.name)?.[1]).sort()).toEqual(['ftp', 'scm']);
    for (const policy of policies) expect(policy.properties).toEqual({ allow: false });
  });

  it('creates the storage account without public blob access or shared keys, with TLS 1.2 minimum', () => {
    const storage = onlyResource(template, 'Microsoft.Storage/storageAccounts');
    expect(storage.properties).toMatchObject({
      allowBlobPublicAccess: false,
      allowSharedKeyAccess: false,
      minimumTlsVersion: 'TLS1_2',
      supportsHttpsTrafficOnly: true,
      defaultToOAuthAuthentication: true,
    });
    const containers = resourcesOfType(template, 'Microsoft.Storage/storageAccounts/blobServices/containers');
    expect(containers.length).toBeGreaterThan(0);
    for (const container of containers) expect(container.properties).toEqual({ publicAccess: 'None' });
  });

  it('creates Key Vault with RBAC authorization, soft delete and purge protection, and no access policies', () => {
    const vault = onlyResource(template, 'Microsoft.KeyVault/vaults');
    expect(vault.properties).toMatchObject({
      enableRbacAuthorization: true,
      enableSoftDelete: true,
      enablePurgeProtection: true,
    });
    expect(vault.properties).not.toHaveProperty('accessPolicies');
  });

  it('grants the identity exactly the roles the app needs, on the resources it needs them, and no broader one', () => {
    const assignments = roleAssignments();
    const host = "Microsoft.Storage/storageAccounts variables('storageAccountName')";
    expect(assignments.map((a) => `${a.scope} ${a.role}`).sort()).toEqual(
      [
        `${host} ${ROLE.storageBlobDataOwner}`,
        `${host} ${ROLE.storageQueueDataContributor}`,
        `${host} ${ROLE.storageTableDataContributor}`,
        `Microsoft.KeyVault/vaults variables('keyVaultName') ${ROLE.keyVaultSecretsOfficer}`,
        `Microsoft.Insights/components variables('appInsightsName') ${ROLE.monitoringMetricsPublisher}`,
        `Microsoft.Storage/storageAccounts parameters('storageAccountName') ${ROLE.storageBlobDataReader}`,
      ].sort(),
    );
    for (const assignment of assignments) {
      expect(Object.values(BROAD_ROLES)).not.toContain(assignment.role);
      // Every assignment is for the one identity (the nested deployment receives its principal id).
      expect(assignment.principalId).toMatch(
        /^\[(reference\(resourceId\('Microsoft\.ManagedIdentity\/userAssignedIdentities', variables\('identityName'\)\), '[\d-]+'\)\.principalId|parameters\('principalId'\))\]$/,
      );
    }
    const nested = onlyResource(template, 'Microsoft.Resources/deployments');
    expect(nested.resourceGroup).toBe("[parameters('segmentStorageResourceGroup')]");
    expect((nested.properties!.parameters as Record<string, { value: string }>).principalId!.value).toContain(
      "userAssignedIdentities', variables('identityName')",
    );
    // The segment account is an existing one: the template never creates or changes it.
    expect(resourcesOfType(template, 'Microsoft.Storage/storageAccounts')).toHaveLength(1);
  });

  it('puts no keys or connection strings in app settings or outputs', () => {
    const secretLooking =
      /listKeys|list[A-Z]\w*\(|AccountKey|SharedAccessSignature|SharedAccessKey|primaryKey|masterKey/i;
    for (const [name, value] of settings) {
      expect(value, name).not.toMatch(secretLooking);
    }
    // The only connection string is Application Insights', which is no secret here: local authentication is
    // off, so its instrumentation key authorizes nothing; ingestion needs the identity's Entra token.
    expect(
      [...settings.keys()].filter((name) => /connection_?string|AzureWebJobsStorage$/i.test(name)),
    ).toEqual(['APPLICATIONINSIGHTS_CONNECTION_STRING']);
    expect(onlyResource(template, 'Microsoft.Insights/components').properties!.DisableLocalAuth).toBe(true);
    expect(settings.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING')).toMatch(
      /^\[format\('ClientId=\{0\};Authorization=AAD'/,
    );
    for (const [name, output] of Object.entries(template.outputs)) {
      expect(JSON.stringify(output.value), name).not.toMatch(secretLooking);
      expect(JSON.stringify(output.value), name).not.toMatch(/ConnectionString|webhook|authClientSecret/i);
      expect(output.type, name).not.toMatch(/secure/i);
    }
    // The one key the template reads (the blob webhook's) only ever travels as a secure parameter.
    const text = JSON.stringify(template);
    expect(text.match(/listKeys\(/g)).toHaveLength(1);
    const nested = onlyResource(template, 'Microsoft.Resources/deployments');
    const nestedTemplate = nested.properties!.template as { parameters: Record<string, { type: string }> };
    expect(nestedTemplate.parameters.webhookUrl!.type).toBe('securestring');
    const webhook = (nested.properties!.parameters as Record<string, { value: string }>).webhookUrl!.value;
    expect(webhook).toMatch(/^\[if\(parameters\('deployEventSubscription'\), /);
    expect(webhook).toContain('listKeys(');
  });

  it('sets every setting shared/config.ts reads, apart from the ones it deliberately leaves out', () => {
    const missing = CONFIG_SETTING_NAMES.filter((name) => !settings.has(name) && !(name in LEFT_OUT));
    expect(missing, 'settings of shared/config.ts the template neither sets nor lists in LEFT_OUT').toEqual(
      [],
    );
    for (const name of Object.keys(LEFT_OUT) as ConfigSettingName[]) {
      expect(CONFIG_SETTING_NAMES, `LEFT_OUT names ${name}, which config.ts no longer reads`).toContain(name);
      expect(settings.has(name), `${name} is in LEFT_OUT but the template sets it`).toBe(false);
      expect(configSettingKind(name), `${name} is required, so it cannot be left out`).not.toBe('required');
    }
  });

  it('never sets LOCAL_DEV_MODE and keeps plain http to loopback ActiveCampaign hosts off', () => {
    expect(settings.has('LOCAL_DEV_MODE')).toBe(false);
    expect(JSON.stringify(template)).not.toContain('LOCAL_DEV_MODE');
    expect(settings.get('ACTIVECAMPAIGN_ALLOW_LOOPBACK_HTTP')).toBe('false');
    expect(settings.get('SEGMENT_STORAGE_PRIVATE_LINK')).toBe('false');
  });

  it('uses identity-based connections for host and segment storage', () => {
    expect(settings.get('AzureWebJobsStorage__accountName')).toBe("[variables('storageAccountName')]");
    expect(settings.get('AzureWebJobsStorage__credential')).toBe('managedidentity');
    const clientId = settings.get('AZURE_CLIENT_ID');
    expect(clientId).toMatch(/userAssignedIdentities.*\.clientId\]$/);
    expect(settings.get('AzureWebJobsStorage__clientId')).toBe(clientId);
    expect(settings.get('SegmentStorage__clientId')).toBe(clientId);
    expect(settings.get('SegmentStorage__credential')).toBe('managedidentity');
    expect(settings.get('SEGMENT_STORAGE_ACCOUNT_URL')).toContain("variables('segmentStorageAccountId')");
    expect(settings.get('SegmentStorage__blobServiceUri')).toBe(settings.get('SEGMENT_STORAGE_ACCOUNT_URL'));
  });

  it('gives settings whose defaults shared/config.ts accepts', () => {
    const env: Record<string, string> = {};
    for (const [name, value] of settings) {
      const resolved = defaultSettingValue(template, value) ?? DEPLOYED_SAMPLE[name];
      if (resolved !== undefined) env[name] = resolved;
    }
    for (const name of CONFIG_SETTING_NAMES) {
      if (settings.has(name)) expect(env, `no default or sample value for ${name}`).toHaveProperty(name);
    }
    expect(() => parseConfig(env)).not.toThrow();
    expect(parseConfig(env).DURABLE_TASK_HUB_NAME).toBe('SegmentExport');
  });

  it('leaves out the settings the Flex Consumption plan refuses', () => {
    for (const name of [
      'FUNCTIONS_WORKER_RUNTIME',
      'FUNCTIONS_EXTENSION_VERSION',
      'WEBSITE_RUN_FROM_PACKAGE',
      'WEBSITE_CONTENTSHARE',
      'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
      'WEBSITE_NODE_DEFAULT_VERSION',
    ]) {
      expect(settings.has(name), name).toBe(false);
    }
  });

  it('requires Microsoft Entra ID sign-in for everything but the health probe and the blob webhook', () => {
    const auth = allResources(template).find(
      (r) => r.type === 'Microsoft.Web/sites/config' && r.name.includes('authsettingsV2'),
    );
    expect(auth).toBeDefined();
    const properties = auth!.properties as {
      platform: { enabled: boolean };
      globalValidation: {
        requireAuthentication: boolean;
        unauthenticatedClientAction: string;
        excludedPaths: string[];
      };
      identityProviders: { azureActiveDirectory: { enabled: boolean; registration: Record<string, string> } };
    };
    expect(properties.platform.enabled).toBe(true);
    expect(properties.globalValidation.requireAuthentication).toBe(true);
    expect(properties.globalValidation.unauthenticatedClientAction).toBe('Return401');
    // The blob webhook is guarded by its system key; the health probe reports names only.
    expect(properties.globalValidation.excludedPaths.sort()).toEqual([
      '/api/health',
      '/runtime/webhooks/blobs',
    ]);
    const aad = properties.identityProviders.azureActiveDirectory;
    expect(aad.enabled).toBe(true);
    expect(aad.registration.clientId).toBe("[parameters('authClientId')]");
    expect(aad.registration).not.toHaveProperty('clientSecretSettingName');
  });

  it('subscribes the segmentLanded blob trigger to BlobCreated events of the segment container on the second pass', () => {
    const subscription = onlyResource(template, 'Microsoft.EventGrid/systemTopics/eventSubscriptions');
    expect(subscription.condition).toBe("[parameters('deployEventSubscription')]");
    expect(onlyResource(template, 'Microsoft.EventGrid/systemTopics').condition).toBe(
      "[parameters('deployEventSubscription')]",
    );
    expect(template.parameters.deployEventSubscription!.defaultValue).toBe(false);
    const properties = subscription.properties as {
      destination: { endpointType: string; properties: { endpointUrl: string } };
      filter: { includedEventTypes: string[]; subjectBeginsWith: string };
    };
    expect(properties.destination.endpointType).toBe('WebHook');
    expect(properties.destination.properties.endpointUrl).toBe("[parameters('webhookUrl')]");
    expect(properties.filter.includedEventTypes).toEqual(['Microsoft.Storage.BlobCreated']);
    expect(properties.filter.subjectBeginsWith).toBe(
      "[format('/blobServices/default/containers/{0}/', parameters('container'))]",
    );
    expect(variable(template, 'blobTriggerFunctionName')).toBe('segmentLanded');
    const nested = onlyResource(template, 'Microsoft.Resources/deployments');
    const webhook = (nested.properties!.parameters as Record<string, { value: string }>).webhookUrl!.value;
    expect(webhook).toContain('/runtime/webhooks/blobs?functionName=Host.Functions.{1}&code={2}');
    expect(webhook).toContain('systemKeys.blobs_extension');
  });
});
