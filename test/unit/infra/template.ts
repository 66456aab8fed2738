/**
 * Reading `infra/main.json` in tests: the resources of the template and of its nested deployments, app
 * settings by name, and the parameter defaults a `[parameters('x')]` expression stands for.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface ArmResource {
  type: string;
  apiVersion: string;
  name: string;
  condition?: string;
  scope?: string;
  location?: string;
  kind?: string;
  resourceGroup?: string;
  properties?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface ArmParameter {
  type: string;
  defaultValue?: unknown;
  allowedValues?: unknown[];
}

export interface ArmTemplate {
  $schema: string;
  parameters: Record<string, ArmParameter>;
  variables: Record<string, unknown>;
  resources: ArmResource[];
  outputs: Record<string, { type: string; value: unknown }>;
}

export const templatePath = path.resolve(__dirname, '../../../infra/main.json');

/** The parsed template. */
export function readTemplate(file = templatePath): ArmTemplate {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ArmTemplate;
}

/** Every resource, including those of nested (inline) deployments. */
export function allResources(template: ArmTemplate): ArmResource[] {
  return template.resources.flatMap((resource) => {
    const nested = (resource.properties?.template as ArmTemplate | undefined) ?? undefined;
    return nested ? [resource, ...allResources(nested)] : [resource];
  });
}

/** The resources of one type. */
export function resourcesOfType(template: ArmTemplate, type: string): ArmResource[] {
  return allResources(template).filter((resource) => resource.type.toLowerCase() === type.toLowerCase());
}

/** The one resource of `type`; fails when there is not exactly one. */
export function onlyResource(template: ArmTemplate, type: string): ArmResource {
  const found = resourcesOfType(template, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0]!;
}

/** The Function App's app settings as name → value (values are ARM expressions or literals). */
export function appSettings(template: ArmTemplate): Map<string, string> {
  const site = onlyResource(template, 'Microsoft.Web/sites');
  const siteConfig = site.properties?.siteConfig as { appSettings: { name: string; value: string }[] };
  return new Map(siteConfig.appSettings.map((setting) => [setting.name, setting.value]));
}

/** A variable's value. */
export function variable(template: ArmTemplate, name: string): unknown {
  if (!(name in template.variables)) throw new Error(`template has no variable ${name}`);
  return template.variables[name];
}

/**
 * The value an app setting gets with every parameter at its default: a literal, `[parameters('x')]` or
 * `[string(parameters('x'))]`; undefined for other expressions (references to deployed resources).
 */
export function defaultSettingValue(template: ArmTemplate, value: string): string | undefined {
  if (!value.startsWith('[')) return value;
  const match = /^\[(string\()?parameters\('([^']+)'\)\)?\]$/.exec(value);
  if (!match) return undefined;
  const parameter = template.parameters[match[2]!];
  if (!parameter) throw new Error(`app setting refers to unknown parameter ${match[2]}`);
  if (parameter.defaultValue === undefined) return undefined;
  const fallback = parameter.defaultValue;
  return typeof fallback === 'string' ? fallback : JSON.stringify(fallback);
}
