import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { EnvSecretStore } from '../../activities/secrets/secret-store';
import { infraSnowflakeApplyCommand } from '../../cli/infra';
import { DEFAULT_CONFIG_PATH, parseConfig } from '../../config/load';
import type { PipelineConfig } from '../../config/schema';
import { renderSnowflakeInfra, rsaPublicKeyBody } from '../../infra/snowflake/render';
import { type RecordedStatement, type SnowflakeStandIn, startSnowflakeStandIn } from '../stand-ins/snowflake';

/**
 * `freshline infra snowflake apply` through the real snowflake-sdk against the REST stand-in: it logs
 * in as the administrator with the admin role, runs the rendered statements one by one in file order,
 * records each file in governance.schema_migrations, and a second apply skips what is recorded. The
 * stand-in runs no SQL; the migrations table is emulated by handlers on its INSERT and SELECT.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Yaml = any;

const admin = generateKeyPairSync('rsa', { modulusLength: 2048 });
const tableau = generateKeyPairSync('rsa', { modulusLength: 2048 });
const TABLEAU_PUBLIC = tableau.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const secrets = new EnvSecretStore({
  SF_ADMIN_KEY: admin.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  SF_WORKER_KEY: 'never read by apply',
  TABLEAU_PUBLIC_KEY: TABLEAU_PUBLIC,
});
const MIGRATIONS = '"ANALYTICS"."GOVERNANCE"."SCHEMA_MIGRATIONS"';

let stand: SnowflakeStandIn;
/** The emulated schema_migrations rows: [version, description, checksum, statements, applied_by]. */
let recorded: unknown[][] = [];

function config(mutate: (c: Yaml) => void = () => undefined): PipelineConfig {
  const c: Yaml = parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8'));
  c.warehouse = {
    type: 'snowflake',
    account: 'freshline_test',
    user: 'FRESHLINE_SVC',
    role: 'FRESHLINE',
    warehouse: 'FRESHLINE_WH',
    database: 'ANALYTICS',
    privateKeySecret: 'SF_WORKER_KEY',
    accessUrl: stand.url,
    externalStage: {
      name: 'freshline_stage',
      url: 's3://acme-freshline/stage/',
      storageIntegration: 'freshline_s3',
      awsRoleArn: 'arn:aws:iam::123456789012:role/freshline-snowflake',
    },
    biRole: 'bi_reader',
    infra: {
      admin: { user: 'ADMIN', privateKeySecret: 'SF_ADMIN_KEY' },
      tableau: { publicKeySecret: 'TABLEAU_PUBLIC_KEY', allowedIps: ['203.0.113.0/24'] },
    },
  };
  c.stage = { type: 's3', bucket: 'acme-freshline', prefix: 'stage', region: 'eu-west-1' };
  mutate(c);
  return parseConfig(c);
}

/** Runs the command; returns its output lines and the statements it sent (the adapter's ALTER SESSIONs left out). */
async function apply(
  cfg: PipelineConfig,
  opts: { role?: string } = {},
): Promise<{ lines: string[]; statements: RecordedStatement[] }> {
  const from = stand.statements.length;
  const lines: string[] = [];
  await infraSnowflakeApplyCommand(opts, { config: cfg, secrets, out: (l) => lines.push(l) });
  return { lines, statements: stand.statements.slice(from).filter((s) => !/^ALTER SESSION/.test(s.sqlText)) };
}

const insertOf = (s: RecordedStatement) => (s.sqlText.startsWith(`INSERT INTO ${MIGRATIONS}`) ? s.binds : undefined);

beforeAll(async () => {
  stand = await startSnowflakeStandIn({
    account: 'FRESHLINE_TEST',
    users: [{ name: 'ADMIN', publicKeyPem: admin.publicKey.export({ type: 'spki', format: 'pem' }).toString() }],
  });
  stand.on(new RegExp(`^INSERT INTO ${MIGRATIONS.replace(/[."]/g, '\\$&')}`), (_sql, binds) => {
    recorded.push(binds);
    return { updated: 1 };
  });
  stand.on(new RegExp(`^SELECT version, checksum FROM ${MIGRATIONS.replace(/[."]/g, '\\$&')}`), () => ({
    columns: [
      { name: 'VERSION', type: 'VARCHAR' },
      { name: 'CHECKSUM', type: 'VARCHAR' },
    ],
    rows: recorded.map((b) => [b[0], b[2]]),
  }));
});
afterAll(() => stand?.close());
beforeEach(() => {
  recorded = [];
});

test('first apply: logs in as the administrator with the admin role, runs every statement in file order and records each file', async () => {
  const cfg = config();
  const plan = renderSnowflakeInfra(cfg, { tableauPublicKey: TABLEAU_PUBLIC });
  const { lines, statements } = await apply(cfg);

  const login = stand.logins.at(-1);
  expect(login).toMatchObject({ user: 'ADMIN', authenticator: 'SNOWFLAKE_JWT', ok: true });
  expect(login?.query.roleName).toBe('ACCOUNTADMIN');
  expect(login?.query.databaseName).toBeUndefined();
  expect(login?.query.warehouse).toBeUndefined();
  expect(stand.sessions.get(login?.sessionId ?? -1)?.closed).toBe(true);

  const [bootstrap, ...rest] = plan.migrations;
  const expected = [
    ...bootstrap.statements,
    `SELECT version, checksum FROM ${MIGRATIONS} ORDER BY applied_at, version`,
    ...rest.flatMap((m) => [
      ...m.statements,
      `INSERT INTO ${MIGRATIONS} (version, description, checksum, statements, applied_at, applied_by) VALUES (:1, :2, :3, :4, CURRENT_TIMESTAMP(), :5)`,
    ]),
  ];
  expect(statements.map((s) => s.sqlText)).toEqual(expected);
  expect(statements.length).toBeGreaterThan(100);
  for (const s of statements)
    expect(JSON.parse(s.queryTag ?? '{}')).toEqual({ app: 'freshline', command: 'infra snowflake apply' });
  // The Tableau user got the public key from the secret, in the form Snowflake takes.
  expect(statements.find((s) => s.sqlText.startsWith('CREATE USER IF NOT EXISTS "TABLEAU_SVC"'))?.sqlText).toContain(
    `RSA_PUBLIC_KEY = '${rsaPublicKeyBody(TABLEAU_PUBLIC)}'`,
  );

  expect(statements.map(insertOf).filter(Boolean)).toEqual(
    rest.map((m) => [m.version, m.description, m.checksum, m.statements.length, 'ADMIN']),
  );
  expect(lines[0]).toBe('applying infra/snowflake to freshline_test as ADMIN with role ACCOUNTADMIN');
  expect(lines).toContain(
    `V004__grants.sql: applied ${rest.find((m) => m.version === 'V004')?.statements.length} statement(s) (new)`,
  );
  // The storage integration first: the stage (V002) and LOADER's grant on it (V004) need it.
  expect(statements.find((s) => /STORAGE INTEGRATION/.test(s.sqlText))?.sqlText).toMatch(
    /^CREATE STORAGE INTEGRATION IF NOT EXISTS "FRESHLINE_S3"/,
  );
  expect(rest.map((m) => m.version).slice(0, 3)).toEqual(['V000', 'V001', 'V002']);
  expect(lines.at(-1)).toMatch(/^done: 8 file\(s\) applied, 0 already applied, \d+ statement\(s\)$/);
});

test('second apply skips every recorded version; only bootstrap and the repeatable masking file run again', async () => {
  const cfg = config();
  await apply(cfg);
  const plan = renderSnowflakeInfra(cfg, { tableauPublicKey: TABLEAU_PUBLIC });
  const bootstrap = plan.migrations[0];
  const masking = plan.migrations.find((m) => m.kind === 'repeatable');
  const { lines, statements } = await apply(cfg);
  expect(statements.map((s) => s.sqlText)).toEqual([
    ...bootstrap.statements,
    `SELECT version, checksum FROM ${MIGRATIONS} ORDER BY applied_at, version`,
    ...(masking?.statements ?? []),
    expect.stringMatching(/^INSERT INTO /),
  ]);
  for (const v of [
    'V000__storage_integration',
    'V001__warehouses',
    'V002__database_and_schemas',
    'V003__roles',
    'V004__grants',
    'V005__pii_masking_policy',
    'V006__tableau_service_user',
  ]) {
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${v}\\.sql: already applied`)));
  }
  expect(lines.at(-1)).toMatch(/^done: 1 file\(s\) applied, 7 already applied/);
});

test('a config change re-applies exactly the versions it renders differently (a new dataset: its shadow schema and grants)', async () => {
  await apply(config());
  const grown = config((c) => c.datasets.push({ ...c.datasets[0], name: 'marketing' }));
  const { lines, statements } = await apply(grown);
  expect(lines.filter((l) => / applied \d+ statement/.test(l)).map((l) => l.split(':')[0])).toEqual([
    'V002__database_and_schemas.sql',
    'V004__grants.sql',
    'R__pii_masking.sql',
  ]);
  expect(lines).toContainEqual(
    expect.stringMatching(
      /^V002__database_and_schemas\.sql: applied \d+ statement\(s\) \(config changed since checksum [0-9a-f]{12}\)$/,
    ),
  );
  expect(statements.map((s) => s.sqlText)).toContain(
    'CREATE SCHEMA IF NOT EXISTS "ANALYTICS"."SHADOW_FINANCE" COMMENT = \'Staging, intermediate and mart models of one dataset before the quality gate\'',
  );
});

test('a failing statement stops the apply naming file and statement; that file is not recorded and runs again from its start next time', async () => {
  const cfg = config();
  const failing = stand.on(/^GRANT USAGE ON INTEGRATION/, () => ({
    error: {
      code: '003001',
      sqlState: '42501',
      message: "SQL access control error: Insufficient privileges to operate on integration 'FRESHLINE_S3'",
    },
  }));
  await expect(apply(cfg)).rejects.toThrow(
    /V004__grants\.sql: statement 4 of \d+ failed \(GRANT USAGE ON INTEGRATION "FRESHLINE_S3" TO ROLE "ANALYTICS_LOADER"\): .*Insufficient privileges.*\n.*runs it again from the start/,
  );
  expect(recorded.map((r) => r[0])).toEqual(['V000', 'V001', 'V002', 'V003']);
  failing();
  const { lines, statements } = await apply(cfg);
  expect(lines.filter((l) => / applied \d+ statement/.test(l)).map((l) => l.split(':')[0])).toEqual([
    'V004__grants.sql',
    'V005__pii_masking_policy.sql',
    'V006__tableau_service_user.sql',
    'R__pii_masking.sql',
  ]);
  const grants = renderSnowflakeInfra(cfg, { tableauPublicKey: TABLEAU_PUBLIC }).migrations.find(
    (m) => m.version === 'V004',
  );
  expect(statements.map((s) => s.sqlText)).toEqual(expect.arrayContaining(grants?.statements ?? ['missing']));
});

test('without awsRoleArn the storage integration is left out, saying so, and the rest applies as before', async () => {
  const { lines, statements } = await apply(config((c) => delete c.warehouse.externalStage.awsRoleArn));
  expect(lines[1]).toBe(
    'V000__storage_integration.sql: left out (warehouse.externalStage.awsRoleArn is not set, so the storage integration ' +
      'FRESHLINE_S3 must already exist (an account admin creates it); set awsRoleArn to have this apply create it)',
  );
  expect(statements.filter((s) => /STORAGE INTEGRATION/.test(s.sqlText))).toEqual([]);
  expect(recorded.map((r) => r[0])).not.toContain('V000');
  expect(lines.at(-1)).toMatch(/^done: 7 file\(s\) applied, 0 already applied/);
});

test('--role overrides the admin role', async () => {
  await apply(config(), { role: 'SECURITYADMIN' });
  expect(stand.logins.at(-1)?.query.roleName).toBe('SECURITYADMIN');
});

test('--dry-run prints the script and connects to nothing', async () => {
  const logins = stand.logins.length;
  const requests = stand.requests.length;
  const lines: string[] = [];
  expect(
    await infraSnowflakeApplyCommand({ dryRun: true }, { config: config(), secrets, out: (l) => lines.push(l) }),
  ).toBe(0);
  expect(stand.logins.length).toBe(logins);
  expect(stand.requests.length).toBe(requests);
  const script = lines.join('\n');
  expect(script).toMatch(
    /^-- B__bootstrap\.sql \(bootstrap, checksum [0-9a-f]{12}\)\nCREATE DATABASE IF NOT EXISTS "ANALYTICS"/,
  );
  expect(script).toContain('GRANT SELECT ON FUTURE VIEWS IN SCHEMA "ANALYTICS"."BI" TO ROLE "BI_READER";');
  expect(script).toContain(rsaPublicKeyBody(TABLEAU_PUBLIC));
});

test('on the DuckDB default it fails with a message saying so, before connecting anywhere', async () => {
  const duck = parseConfig(parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')));
  await expect(infraSnowflakeApplyCommand({}, { config: duck, secrets, out: () => undefined })).rejects.toThrow(
    /the configured warehouse is duckdb \(warehouse\.type\), not snowflake/,
  );
});
