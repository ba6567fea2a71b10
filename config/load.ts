import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { PipelineConfigSchema, formatIssues, type DatasetConfig, type PipelineConfig } from './schema';

/** Where the pipeline definition lives unless FRESHLINE_CONFIG says otherwise. */
export const DEFAULT_CONFIG_PATH = resolve(__dirname, 'pipeline.yaml');

/** A config problem a data engineer can act on: the message names the file and every bad field. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates an already-parsed config object. */
export function parseConfig(raw: unknown, origin = 'config'): PipelineConfig {
  const result = PipelineConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(`invalid ${origin}:\n${formatIssues(result.error)}`);
  return result.data;
}

/** Reads and validates the YAML pipeline definition. */
export function loadConfig(path = process.env.FRESHLINE_CONFIG ?? DEFAULT_CONFIG_PATH): PipelineConfig {
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read ${path}: ${(err as Error).message}`);
  }
  return parseConfig(raw, path);
}

/** Finds a dataset by name, with an error that lists the defined ones. */
export function getDataset(config: PipelineConfig, name: string): DatasetConfig {
  const ds = config.datasets.find((d) => d.name === name);
  if (!ds)
    throw new ConfigError(`unknown dataset '${name}' (defined: ${config.datasets.map((d) => d.name).join(', ')})`);
  return ds;
}

/** Models a dataset run builds: what it publishes plus anything its checks read. */
export function modelsToBuild(ds: DatasetConfig): string[] {
  const refs = (sql: string) => [...sql.matchAll(/\{\{\s*ref\(\s*'([a-z_][a-z0-9_]*)'\s*\)\s*\}\}/g)].map((m) => m[1]);
  const checked = ds.checks.flatMap((c) => {
    switch (c.type) {
      case 'relationships':
        return [c.model, c.to.model];
      case 'metric_match':
        return [...refs(c.left), ...refs(c.right)];
      case 'custom_sql':
        return [...(c.model ? [c.model] : []), ...refs(c.sql)];
      default:
        return 'model' in c ? [c.model] : [];
    }
  });
  return [...new Set([...ds.publish, ...checked])];
}
