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
