import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig, parseConfig } from '../../config/load';
import { contractType } from '../../config/schema/contract-types';

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
  [
    (c: Yaml) => (c.datasets[0].tables[0].name = 'orders; drop table x'),
    /datasets\[0\]\.tables\[0\]\.name: must be a lower-case SQL identifier/,
  ],
  [(c: Yaml) => (c.datasets[0].checks[0].severity = 'fatal'), /datasets\[0\]\.checks\[0\]\.severity/],
  [(c: Yaml) => (c.datasets[0].checks[6].tolerance = 2), /datasets\[0\]\.checks\[6\]\.tolerance/],
  [
    (c: Yaml) =>
      (c.datasets[0].checks.find((k: { type: string }) => k.type === 'schema_contract').columns.orders = 'bignum'),
    /datasets\[0\]\.checks\[\d+\]\.columns\.orders: must be one of text, integer, decimal\(p,s\)/,
  ],
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
  [
    (c: Yaml) => delete c.warehouse.privateKeySecret,
    /warehouse\.privateKeySecret: required when authenticator is SNOWFLAKE_JWT/,
  ],
  [
    (c: Yaml) => (c.warehouse.authenticator = 'SNOWFLAKE'),
    /warehouse\.passwordSecret: required when authenticator is SNOWFLAKE /,
  ],
  [(c: Yaml) => (c.warehouse.authenticator = 'OAUTH'), /warehouse\.authenticator/],
  [
    (c: Yaml) => (c.warehouse.type = 'bigquery'),
    /warehouse\.type: Invalid discriminator value\. Expected 'duckdb' \| 'snowflake'/,
  ],
  [(c: Yaml) => delete c.warehouse.biRole, /warehouse\.biRole/],
  [
    (c: Yaml) => (c.warehouse.externalStage.name = 'stage; drop schema raw'),
    /warehouse\.externalStage\.name: must be a lower-case SQL identifier/,
  ],
  [
    (c: Yaml) => (c.warehouse.externalStage.url = 'https://acme-freshline.s3.amazonaws.com/stage/'),
    /warehouse\.externalStage\.url: must be an S3 URL/,
  ],
  [
    (c: Yaml) => (c.warehouse.externalStage.url = 's3://acme-freshline/other/'),
    /warehouse\.externalStage\.url: must be the S3 stage's bucket and prefix, s3:\/\/acme-freshline\/stage\//,
  ],
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

/** A dataset with a Tableau target (names and LUIDs; credentials as secret names). */
const withTableau = (tableau: Record<string, unknown>): Yaml => {
  const cfg = valid();
  cfg.datasets[0].bi = {
    tableau: {
      server: 'https://prod-uk-a.online.tableau.com',
      site: 'acme',
      patNameSecret: 'TABLEAU_PAT_NAME',
      patSecretSecret: 'TABLEAU_PAT_SECRET',
      datasources: ['Sales (certified)', { luid: '9f1c2d3e-0000-4000-8000-00000000abcd' }],
      workbooks: ['Regional Sales'],
      ...tableau,
    },
  };
  return cfg;
};

test('the shipped config has no Tableau target (refresh is skipped) and a 24h wait for a failed refresh', () => {
  const ds = loadConfig().datasets[0];
  expect(ds.bi).toEqual({ failedRefreshTimeout: '24h' });
});

test('a Tableau target gets its defaults: API 3.25, 2 refreshes at once, polled every 15s, 2h per job, 2 re-runs', () => {
  expect(parseConfig(withTableau({})).datasets[0].bi.tableau).toEqual({
    server: 'https://prod-uk-a.online.tableau.com',
    site: 'acme',
    apiVersion: '3.25',
    patNameSecret: 'TABLEAU_PAT_NAME',
    patSecretSecret: 'TABLEAU_PAT_SECRET',
    datasources: ['Sales (certified)', { luid: '9f1c2d3e-0000-4000-8000-00000000abcd' }],
    workbooks: ['Regional Sales'],
    maxConcurrentRefreshes: 2,
    pollInterval: '15s',
    jobTimeout: '2h',
    retries: 2,
  });
  expect(parseConfig(withTableau({ site: '', server: 'http://localhost:8080' })).datasets[0].bi.tableau?.site).toBe('');
});

test.each([
  [
    { server: 'http://tableau.example.com' },
    /datasets\[0\]\.bi\.tableau\.server: must be an https URL \(plain http only for localhost\)/,
  ],
  [{ server: 'tableau.example.com' }, /datasets\[0\]\.bi\.tableau\.server: must be a URL/],
  [{ site: 'acme/site' }, /datasets\[0\]\.bi\.tableau\.site: must be a site content URL/],
  [{ apiVersion: 3.1 }, /datasets\[0\]\.bi\.tableau\.apiVersion: must be a quoted REST API version such as '3\.25'/],
  [{ apiVersion: 'v3' }, /datasets\[0\]\.bi\.tableau\.apiVersion: must be a REST API version/],
  [
    { patNameSecret: undefined },
    /datasets\[0\]\.bi\.tableau\.patNameSecret: required: the name of the secret holding the personal access token name/,
  ],
  [{ patSecretSecret: '' }, /datasets\[0\]\.bi\.tableau\.patSecretSecret: must name a secret/],
  [{ datasources: [{ id: 'x' }] }, /datasets\[0\]\.bi\.tableau\.datasources\[0\]: must be a name or \{ luid: <id> \}/],
  [
    { workbooks: ['Regional Sales', 'Regional Sales'] },
    /datasets\[0\]\.bi\.tableau\.workbooks\[1\]: duplicate name Regional Sales/,
  ],
  [{ maxConcurrentRefreshes: 0 }, /datasets\[0\]\.bi\.tableau\.maxConcurrentRefreshes/],
  [{ pollInterval: 'often' }, /datasets\[0\]\.bi\.tableau\.pollInterval: must be a duration/],
  [{ jobTimeout: '2 hours' }, /datasets\[0\]\.bi\.tableau\.jobTimeout: must be a duration/],
  [{ retries: -1 }, /datasets\[0\]\.bi\.tableau\.retries/],
])('an invalid Tableau target fails with the field named (%#)', (tableau, message) => {
  const cfg = withTableau(tableau);
  expect(() => parseConfig(cfg)).toThrow(ConfigError);
  expect(() => parseConfig(cfg)).toThrow(message);
});

test('an invalid failed-refresh wait names its field', () => {
  const cfg = valid();
  cfg.datasets[0].bi = { failedRefreshTimeout: 'a day' };
  expect(() => parseConfig(cfg)).toThrow(/datasets\[0\]\.bi\.failedRefreshTimeout: must be a duration/);
});

test('schedules, monitors and reconciliation default when omitted (the shipped values are the defaults)', () => {
  const cfg = valid();
  delete cfg.datasets[0].schedule;
  delete cfg.monitors;
  delete cfg.reconciliation;
  const parsed = parseConfig(cfg);
  expect(parsed.datasets[0].schedule).toEqual({ catchupWindow: '1h', paused: false });
  expect(parsed.monitors).toEqual({ freshness: { every: '5m' } });
  expect(parsed.reconciliation).toEqual({ cron: '0 2 * * *', days: 7 });
  const shipped = loadConfig();
  expect([shipped.datasets[0].schedule, shipped.monitors, shipped.reconciliation]).toEqual([
    parsed.datasets[0].schedule,
    parsed.monitors,
    parsed.reconciliation,
  ]);
  expect(parseConfig({ ...valid(), reconciliation: { every: '12h' } }).reconciliation).toEqual({
    every: '12h',
    days: 7,
  });
});

test.each([
  [
    (c: Yaml) => (c.datasets[0].schedule = { catchupWindow: 'a while' }),
    /datasets\[0\]\.schedule\.catchupWindow: must be a duration/,
  ],
  [
    (c: Yaml) => (c.datasets[0].schedule = { catchupWindow: '5s' }),
    /datasets\[0\]\.schedule\.catchupWindow: must be at least 10s/,
  ],
  [(c: Yaml) => (c.datasets[0].schedule = { paused: 'yes' }), /datasets\[0\]\.schedule\.paused/],
  [(c: Yaml) => (c.monitors = { freshness: { every: 'often' } }), /monitors\.freshness\.every: must be a duration/],
  [
    (c: Yaml) => (c.reconciliation = { cron: '0 2 * *' }),
    /reconciliation\.cron: must be a 5-field cron expression in UTC/,
  ],
  [
    (c: Yaml) => (c.reconciliation = { cron: 'CRON_TZ=Europe/Paris 0 2 * * *' }),
    /reconciliation\.cron: must be a 5-field cron expression/,
  ],
  [
    (c: Yaml) => (c.reconciliation = { cron: '0 2 * * *', every: '1d' }),
    /reconciliation\.every: give cron or every, not both/,
  ],
  [(c: Yaml) => (c.reconciliation = { days: 0 }), /reconciliation\.days: must be at least 1/],
])('an invalid schedule setting fails with the field named (%#)', (mutate, message) => {
  const cfg = valid();
  mutate(cfg);
  expect(() => parseConfig(cfg)).toThrow(message);
});

test('a dependency on an unknown dataset or on itself fails, naming the field', () => {
  const cfg = valid();
  cfg.datasets[1].dependsOn = [{ dataset: 'sales' }, { dataset: 'finance' }];
  expect(() => parseConfig(cfg)).toThrow(
    /datasets\[1\]\.dependsOn\[0\]\.dataset: unknown dataset 'sales' \(defined: sales_core, finance, operations\)/,
  );
  expect(() => parseConfig(cfg)).toThrow(/datasets\[1\]\.dependsOn\[1\]\.dataset: a dataset cannot depend on itself/);
});

describe('a source table shared by two datasets is declared once: its PII, PCI, mode and key agree', () => {
  /** A `marketing` dataset reading the same shop.customers (and payments) as sales_core. */
  const withMarketing = (customers: Yaml, payments: Yaml = { exclude: ['card_token'] }) => {
    const cfg = valid();
    cfg.datasets.push({
      name: 'marketing',
      cadence: '1h',
      freshnessSla: '2h',
      source: 'shop',
      tables: [
        { name: 'customers', schema: 'shop', primaryKey: ['customer_id'], ...customers },
        { name: 'payments', schema: 'shop', primaryKey: ['payment_id'], ...payments },
      ],
      publish: ['dim_customer'],
    });
    return cfg;
  };

  test('the same declaration (PII listed in another order) is accepted', () => {
    const cfg = parseConfig(withMarketing({ pii: ['address', 'full_name', 'phone', 'email'] }));
    expect(cfg.datasets.map((d) => d.name)).toContain('marketing');
  });

  test.each([
    [
      'no pii: plain email/phone/name would land in the shared raw table',
      { mode: 'full' },
      undefined,
      /datasets\[3\]\.tables\[0\]\.pii: shop\.customers is declared by dataset 'sales_core' with pii \[email, phone, full_name, address\] and here with \[\]/,
    ],
    [
      'fewer pii columns',
      { pii: ['email'] },
      undefined,
      /datasets\[3\]\.tables\[0\]\.pii: .*with pii \[email, phone, full_name, address\] and here with \[email\]/,
    ],
    [
      'another mode: full-mode tombstones would delete the token rows',
      { pii: ['email', 'phone', 'full_name', 'address'], mode: 'full' },
      undefined,
      /datasets\[3\]\.tables\[0\]\.mode: .*with mode incremental and here with full/,
    ],
    [
      'PCI not excluded: card_token would be staged',
      { pii: ['email', 'phone', 'full_name', 'address'] },
      {},
      /datasets\[3\]\.tables\[1\]\.exclude: shop\.payments is declared by dataset 'sales_core' with exclude \[card_token\] and here with \[\]/,
    ],
    [
      'another key',
      { pii: ['email', 'phone', 'full_name', 'address'], primaryKey: ['email'] },
      undefined,
      /datasets\[3\]\.tables\[0\]\.primaryKey: .*with primaryKey \[customer_id\] and here with \[email\]/,
    ],
  ])('a second declaration with %s is refused, naming the field', (_what, customers, payments, message) => {
    const cfg = withMarketing(customers, payments);
    expect(() => parseConfig(cfg)).toThrow(ConfigError);
    expect(() => parseConfig(cfg)).toThrow(message);
  });
});

test('cdc tables of one source in two datasets are refused, naming both datasets, the field and the fix', () => {
  const cfg = valid();
  const finance = cfg.datasets.findIndex((d: Yaml) => d.name === 'finance');
  cfg.datasets[0].tables[1].mode = 'cdc';
  cfg.datasets[finance].tables[1].mode = 'cdc';
  const attempt = () => parseConfig(cfg);
  expect(attempt).toThrow(ConfigError);
  expect(attempt).toThrow(new RegExp(`datasets\\[${finance}\\]\\.tables\\[1\\]\\.mode: datasets 'sales_core'`));
  expect(attempt).toThrow(/'finance' both have mode: cdc tables on source 'shop'/);
  expect(attempt).toThrow(/Put all of 'shop''s cdc tables in one dataset/);
});

test('cdc tables of one source in a single dataset, alongside incremental tables elsewhere, are accepted', () => {
  const cfg = valid();
  // order_items and refunds: tables only sales_core declares (a shared table's declarations agree on mode).
  // A CDC table sees deletes in the slot and is not reloaded by partition: partitionOf goes with the switch.
  for (const t of [1, 3]) {
    cfg.datasets[0].tables[t].mode = 'cdc';
    delete cfg.datasets[0].tables[t].partitionOf;
  }
  expect(() => parseConfig(cfg)).not.toThrow();
});

test.each([
  // [engine's catalog type, DuckDB or Snowflake, neutral type]
  ['HUGEINT', 'integer'],
  ['BIGINT', 'integer'],
  ['NUMBER(18,0)', 'integer'],
  ['NUMBER(38,0)', 'integer'],
  ['DECIMAL(18,2)', 'decimal(18,2)'],
  ['NUMBER(18,2)', 'decimal(18,2)'],
  ['VARCHAR', 'text'],
  ['TEXT', 'text'],
  ['VARCHAR(16777216)', 'text'],
  ['TIMESTAMP WITH TIME ZONE', 'timestamptz'],
  ['TIMESTAMP_TZ', 'timestamptz'],
  ['TIMESTAMP_NTZ(9)', 'timestamp'],
  ['DOUBLE', 'float'],
  ['FLOAT', 'float'],
  ['VARIANT', 'json'],
  ['GEOGRAPHY', null],
])('a contract type is engine-neutral: %s reads as %s', (engineType, neutral) => {
  expect(contractType(engineType)).toBe(neutral);
});

test.each([
  [
    (c: Yaml) => (c.datasets[0].tables[1].partitionOf.table = 'invoices'),
    /datasets\[0\]\.tables\[1\]\.partitionOf\.table: 'invoices' is not a table of this dataset/,
  ],
  [
    (c: Yaml) => delete c.datasets[0].tables[0].businessDate,
    /datasets\[0\]\.tables\[1\]\.partitionOf\.table: 'orders' declares no businessDate to partition by/,
  ],
  [
    (c: Yaml) => (c.datasets[0].tables[1].businessDate = 'created_at'),
    /datasets\[0\]\.tables\[1\]\.partitionOf: a table has either businessDate or partitionOf, not both/,
  ],
  [(c: Yaml) => (c.datasets[0].tables[1].partitionOf.via = 'order_id'), /datasets\[0\]\.tables\[1\]\.partitionOf/],
])('a child table reloaded through its parent must name a parent with a business date (%#)', (mutate, message) => {
  const cfg = valid();
  expect(cfg.datasets[0].tables[1]).toMatchObject({ name: 'order_items', partitionOf: { table: 'orders' } });
  mutate(cfg);
  expect(() => parseConfig(cfg)).toThrow(message);
});
