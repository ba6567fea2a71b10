import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig, parseConfig } from '../../config/load';

// Parsed YAML is untyped by nature; the tests poke at its fields to make it invalid.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Yaml = any;
const valid = (): Yaml => parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8'));

test('the shipped pipeline config is valid and defines sales_core every 15 minutes with a 20-minute SLA', () => {
  const cfg = loadConfig();
  const ds = cfg.datasets.find((d) => d.name === 'sales_core');
  expect(ds).toMatchObject({ cadence: '15m', freshnessSla: '20m' });
  expect(ds?.tables.find((t) => t.name === 'customers')?.pii).toEqual(['email', 'phone', 'full_name', 'address']);
});

test.each([
  [(c: Yaml) => (c.datasets[0].cadence = 'every 15 minutes'), /datasets\[0\]\.cadence: must be a duration/],
  [(c: Yaml) => (c.datasets[0].source = 'crm'), /datasets\[0\]\.source: unknown source 'crm' \(defined: shop\)/],
  [(c: Yaml) => (c.datasets[0].tables[1].primaryKey = []), /datasets\[0\]\.tables\[1\]\.primaryKey/],
  [(c: Yaml) => (c.datasets[0].tables[0].name = 'orders; drop table x'), /datasets\[0\]\.tables\[0\]\.name: must be a lower-case SQL identifier/],
  [(c: Yaml) => (c.datasets[0].checks[0].severity = 'fatal'), /datasets\[0\]\.checks\[0\]\.severity/],
  [(c: Yaml) => (c.datasets[0].checks[6].tolerance = 2), /datasets\[0\]\.checks\[6\]\.tolerance/],
])('an invalid config fails with the field named (%#)', (mutate, message) => {
  const cfg = valid();
  mutate(cfg);
  expect(() => parseConfig(cfg)).toThrow(ConfigError);
  expect(() => parseConfig(cfg)).toThrow(message);
});

test('a config file that is not YAML names the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'freshline-cfg-'));
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, stringify(valid()).replace('datasets:', 'datasets: [\n'));
  expect(() => loadConfig(file)).toThrow(new RegExp(`cannot read ${file}`));
});

/** The production sections: Snowflake loading from the S3 stage, secrets from AWS Secrets Manager. */
const production = (): Yaml => ({
  ...valid(),
  warehouse: {
    type: 'snowflake',
    account: 'myorg-analytics',
    user: 'FRESHLINE_LOADER',
    role: 'FRESHLINE_LOADER',
    warehouse: 'FRESHLINE_WH',
    database: 'ANALYTICS',
    privateKeySecret: 'freshline/snowflake-key',
    externalStage: { name: 'freshline_stage', url: 's3://acme-freshline/stage/', storageIntegration: 'freshline_s3' },
    biRole: 'bi_reader',
    statementTimeout: '1h',
  },
  stage: { type: 's3', bucket: 'acme-freshline', prefix: 'stage', region: 'eu-west-1' },
  secrets: { type: 'aws', region: 'eu-west-1', prefix: 'freshline/prod/', ttl: '5m' },
});

test('without warehouse, stage and secrets sections the config means the embedded default', () => {
  const cfg = loadConfig();
  expect(cfg.warehouse).toEqual({ type: 'duckdb' });
  expect(cfg.stage).toEqual({ type: 'local' });
  expect(cfg.secrets).toEqual({ type: 'env' });
});

test('a production config parses; key-pair authentication is the default', () => {
  const cfg = parseConfig(production());
  expect(cfg.warehouse).toMatchObject({ type: 'snowflake', authenticator: 'SNOWFLAKE_JWT', biRole: 'bi_reader' });
  expect(cfg.stage).toMatchObject({ type: 's3', bucket: 'acme-freshline', prefix: 'stage' });
  expect(cfg.secrets).toMatchObject({ type: 'aws', region: 'eu-west-1' });
});

test.each([
  [(c: Yaml) => delete c.warehouse.privateKeySecret, /warehouse\.privateKeySecret: required when authenticator is SNOWFLAKE_JWT/],
  [(c: Yaml) => (c.warehouse.authenticator = 'SNOWFLAKE'), /warehouse\.passwordSecret: required when authenticator is SNOWFLAKE /],
  [(c: Yaml) => (c.warehouse.authenticator = 'OAUTH'), /warehouse\.authenticator/],
  [(c: Yaml) => (c.warehouse.type = 'bigquery'), /warehouse\.type: Invalid discriminator value\. Expected 'duckdb' \| 'snowflake'/],
  [(c: Yaml) => delete c.warehouse.biRole, /warehouse\.biRole/],
  [(c: Yaml) => (c.warehouse.externalStage.name = 'stage; drop schema raw'), /warehouse\.externalStage\.name: must be a lower-case SQL identifier/],
  [(c: Yaml) => (c.warehouse.externalStage.url = 'https://acme-freshline.s3.amazonaws.com/stage/'), /warehouse\.externalStage\.url: must be an S3 URL/],
  [(c: Yaml) => (c.warehouse.externalStage.url = 's3://acme-freshline/other/'), /warehouse\.externalStage\.url: must be the S3 stage's bucket and prefix, s3:\/\/acme-freshline\/stage\//],
  [(c: Yaml) => (c.warehouse.statementTimeout = 'an hour'), /warehouse\.statementTimeout: must be a duration/],
  [(c: Yaml) => (c.stage = { type: 'local' }), /stage\.type: must be s3 when the warehouse is snowflake/],
  [(c: Yaml) => (c.stage.bucket = 'Acme_Freshline'), /stage\.bucket: must be an S3 bucket name/],
  [(c: Yaml) => (c.stage.prefix = '/stage/'), /stage\.prefix: must be a key prefix/],
  [(c: Yaml) => delete c.secrets.region, /secrets\.region/],
  [(c: Yaml) => (c.secrets.ttl = 'soon'), /secrets\.ttl: must be a duration/],
])('an invalid warehouse, stage or secrets section fails with the field named (%#)', (mutate, message) => {
  const cfg = production();
  mutate(cfg);
  expect(() => parseConfig(cfg)).toThrow(ConfigError);
  expect(() => parseConfig(cfg)).toThrow(message);
});
