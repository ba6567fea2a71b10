import { compactRaw } from '../../activities/warehouse/raw-compaction';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { EnvSecretStore, type SecretStore } from '../../activities/secrets/secret-store';
import { SecretsManagerStore } from '../../activities/secrets/aws-secrets-manager';
import { extractTable } from '../../activities/sources/postgres/extract';
import { SNOWFLAKE } from '../../activities/warehouse/dialect';
import { SnowflakeWarehouse } from '../../activities/warehouse/engines/snowflake';
import { loadManifest } from '../../activities/warehouse/load';
import { buildModels } from '../../activities/warehouse/models/build';
import { readModels } from '../../activities/warehouse/models/catalog';
import { publishTables } from '../../activities/warehouse/publish';
import { runChecks } from '../../activities/warehouse/quality/checks';
import { createDqActivities } from '../../activities/dq';
import { recordCheckResults, recordRun } from '../../activities/warehouse/audit/runs';
import { purgeAudit, recordWindowCounts } from '../../activities/warehouse/audit/health';
import { certifiedWatermark, missedWindows } from '../../activities/warehouse/audit/freshness';
import { loadConfig, modelsToBuild, parseConfig } from '../../config/load';
import { PostgresSourceSchema, SourceTableSchema, type PipelineConfig } from '../../config/schema';
import { createDemoSchema, seedDemoData } from '../../infra/demo-oltp/generator';
import { createDatabase } from '../../infra/local/postgres';
import { openDeps, type WorkerDeps } from '../../workers/deps';
import { startS3, type S3StandIn } from '../stand-ins/s3';
import { start as startSecretsManager, type SecretsManagerStandIn } from '../stand-ins/secrets-manager';
import { startSnowflakeStandIn, type SnowflakeStandIn } from '../stand-ins/snowflake';
import { testEnv } from '../support/env';
import { createTypeMatrix, TYPE_MATRIX_ROW_1 } from '../support/type-matrix';
import { standInWarehouse } from '../support/snowflake-config';

/**
 * The shipped pipeline on the production adapters, every statement analyzed as Snowflake SQL: the three
 * shipped datasets' tables extracted from a real PostgreSQL into the S3 stage (an S3-protocol server on
 * loopback), secrets read from the Secrets Manager stand-in, loaded through the external stage, all shipped models built, every shipped check run, the
 * published marts swapped into certified with bi views and grants. The stand-in analyzes every statement
 * (what Snowflake would refuse fails here), then executes it (transpiled to DuckDB): COPY reads the Parquet
 * files from the S3 server, and counts, quarantined rows and releases are real, not programmed.
 *
 * With SNOWFLAKE_ACCOUNT set, the same suite runs against that real account and a real S3 bucket instead
 * (variables in LIVE_VARIABLES; README "Proving it in your account"): use a scratch database.
 */

/** What a run against a real account needs, each as an environment variable. */
const LIVE_VARIABLES = [
  'SNOWFLAKE_ACCOUNT',
  'SNOWFLAKE_USER',
  'SNOWFLAKE_PRIVATE_KEY_PATH',
  'SNOWFLAKE_ROLE',
  'SNOWFLAKE_WAREHOUSE',
  'SNOWFLAKE_DATABASE',
  'FRESHLINE_LIVE_S3_BUCKET',
  'FRESHLINE_LIVE_S3_REGION',
  'FRESHLINE_LIVE_STORAGE_INTEGRATION',
] as const;
const LIVE = process.env.SNOWFLAKE_ACCOUNT
  ? Object.fromEntries(
      LIVE_VARIABLES.map((v) => {
        const value = process.env[v];
        if (!value) throw new Error(`SNOWFLAKE_ACCOUNT is set, so the conformance suite runs live: set ${v} too`);
        return [v, value];
      }),
    )
  : null;
console.log(
  LIVE
    ? `conformance suite: live, account ${LIVE.SNOWFLAKE_ACCOUNT}`
    : 'conformance suite: stand-ins (set SNOWFLAKE_ACCOUNT to run it against a real account)',
);
/** Tests of the stand-in's own records (what it was sent), which a real account does not keep for us. */
const standInOnly = LIVE ? test.skip : test;

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const STAGE_PREFIX = 'conformance/stage';

let stand: SnowflakeStandIn;
let s3: S3StandIn;
let sm: SecretsManagerStandIn | undefined;
let pool: Pool;
let tmp: string;
let deps: WorkerDeps;
let config: PipelineConfig;
let window: { start: string; end: string };
const savedEnv = { ...process.env };
/** Models the dataset tests built. */
const builtModels = new Set<string>();

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'freshline-sf-conformance-'));
  const url = await createDatabase(testEnv('pgAdminUrl'), 't_sf_conformance');
  pool = new Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  await createDemoSchema(pool);
  await seedDemoData(pool, { customers: 40, orders: 120, seed: 7 });
  const { rows } = await pool.query<{ t: Date }>("SELECT date_trunc('minute', max(updated_at)) AS t FROM shop.orders");
  const end = rows[0].t.getTime() + 15 * 60_000;
  window = { start: new Date(end - 3_600_000).toISOString(), end: new Date(end).toISOString() };
  const values = {
    SF_LOADER_KEY: LIVE
      ? readFileSync(LIVE.SNOWFLAKE_PRIVATE_KEY_PATH, 'utf8')
      : privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    SHOP_DB_URL: url,
    FRESHLINE_PII_HMAC_KEY: 'a'.repeat(64),
  };
  let secrets: SecretStore = new EnvSecretStore(values);
  if (!LIVE) {
    // As in production: the worker reads its secrets from Secrets Manager (the stand-in speaks its API, SigV4).
    sm = await startSecretsManager({ accessKeyId: 'AKIDCONFORMANCE', secretAccessKey: 'conformance-secret' });
    for (const [name, value] of Object.entries(values)) sm.put(`freshline/test/${name}`, value);
    secrets = new SecretsManagerStore({
      region: 'us-east-1',
      endpoint: sm.endpoint,
      prefix: 'freshline/test/',
      credentials: { accessKeyId: 'AKIDCONFORMANCE', secretAccessKey: 'conformance-secret' },
    });
  }
  const shipped = loadConfig();
  if (LIVE) {
    const prefix = process.env.FRESHLINE_LIVE_S3_PREFIX ?? STAGE_PREFIX;
    config = parseConfig({
      ...shipped,
      warehouse: {
        type: 'snowflake',
        account: LIVE.SNOWFLAKE_ACCOUNT,
        user: LIVE.SNOWFLAKE_USER,
        role: LIVE.SNOWFLAKE_ROLE,
        warehouse: LIVE.SNOWFLAKE_WAREHOUSE,
        database: LIVE.SNOWFLAKE_DATABASE,
        privateKeySecret: 'SF_LOADER_KEY',
        externalStage: {
          name: 'freshline_stage',
          url: `s3://${LIVE.FRESHLINE_LIVE_S3_BUCKET}/${prefix}/`,
          storageIntegration: LIVE.FRESHLINE_LIVE_STORAGE_INTEGRATION,
        },
        biRole: process.env.SNOWFLAKE_BI_ROLE ?? LIVE.SNOWFLAKE_ROLE,
      },
      stage: { type: 's3', bucket: LIVE.FRESHLINE_LIVE_S3_BUCKET, prefix, region: LIVE.FRESHLINE_LIVE_S3_REGION },
    });
    deps = await openDeps({ dataDir: join(tmp, 'data'), config, secrets });
    return;
  }
  s3 = await startS3();
  stand = await startSnowflakeStandIn({
    account: 'FRESHLINE_TEST',
    users: [{ name: 'LOADER', publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() }],
    // Statements are analyzed, then executed: COPY reads the Parquet files from the S3 server, so counts are real.
    execute: { readStageFile: (url) => s3.read(url) },
  });
  // The S3 client takes its credentials from the SDK chain, as on ECS.
  process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
  config = parseConfig({
    ...shipped,
    warehouse: standInWarehouse(stand.url, `s3://${s3.bucket}/${STAGE_PREFIX}/`),
    stage: { type: 's3', bucket: s3.bucket, prefix: STAGE_PREFIX, region: s3.region, endpoint: s3.endpoint },
  });
  deps = await openDeps({ dataDir: join(tmp, 'data'), config, secrets });
}, 120_000);

afterAll(async () => {
  await deps?.close();
  await stand?.close();
  await s3?.close();
  await sm?.close();
  await pool?.end();
  process.env = savedEnv;
  rmSync(tmp, { recursive: true, force: true });
});

/** Statements the analyzer refused, as an operator would read them (live, a refusal throws instead). */
const refused = () =>
  (stand?.statements ?? [])
    .filter((s) => s.error)
    .map((s) => `${s.error!.code} ${s.error!.message.replace(/\s+/g, ' ')} — ${s.sqlText.replace(/\s+/g, ' ')}`);

test('every shipped table extracts to the S3 stage and loads through the external stage in SQL Snowflake accepts', async () => {
  const wh = deps.warehouse as SnowflakeWarehouse;
  const seen = new Set<string>();
  for (const ds of config.datasets)
    for (const table of ds.tables) {
      if (seen.has(`${table.schema}.${table.name}`)) continue;
      seen.add(`${table.schema}.${table.name}`);
      const source = config.sources[ds.source];
      const manifest = await extractTable({
        sourceName: ds.source,
        source: source as Extract<typeof source, { type: 'postgres' }>,
        url: await deps.secrets.get('SHOP_DB_URL'),
        table,
        window,
        lookbackMs: 0,
        piiKey: await deps.secrets.get('FRESHLINE_PII_HMAC_KEY'),
        stage: deps.stage,
        converter: deps.converter,
        scratchDir: join(tmp, 'extract'),
        baseline: null,
      });
      const load = await loadManifest(wh, deps.stagedRows, manifest, `conformance/${table.name}`);
      expect(load.skipped).toBeNull();
      expect(load.rowsLoaded).toBe(manifest.rows);
      if (stand) {
        const [{ n }] = await stand.read(`SELECT count(*) AS n FROM ${load.rawTable}`);
        expect(Number(n)).toBe(manifest.rows);
      }
    }
  if (sm) expect(sm.count('GetSecretValue')).toBeGreaterThanOrEqual(3);
  // No secret reaches the warehouse: not the source URL, the PII key nor the loader's key material.
  const sent = JSON.stringify(stand?.statements ?? []);
  for (const secret of [await deps.secrets.get('SHOP_DB_URL'), await deps.secrets.get('FRESHLINE_PII_HMAC_KEY')])
    expect(sent).not.toContain(secret);
  expect(sent).not.toContain((await deps.secrets.get('SF_LOADER_KEY')).split('\n')[5]);
  expect(seen.size).toBe(8);
  expect(refused()).toEqual([]);
});

test('every PostgreSQL type family lands in Snowflake with its value: COPY agrees with the staged Parquet', async () => {
  await createTypeMatrix(pool, 'sf_kinds');
  const source = PostgresSourceSchema.parse({ type: 'postgres', urlSecret: 'SHOP_DB_URL' });
  const manifest = await extractTable({
    sourceName: 'types',
    source,
    url: await deps.secrets.get('SHOP_DB_URL'),
    table: SourceTableSchema.parse({ name: 'sf_kinds', schema: 'public', primaryKey: ['id'] }),
    window: { start: '2000-01-01T00:00:00.000Z', end: '2100-01-01T00:00:00.000Z' },
    lookbackMs: 0,
    piiKey: '',
    stage: deps.stage,
    converter: deps.converter,
    scratchDir: join(tmp, 'extract'),
    baseline: null,
  });
  const wh = deps.warehouse as SnowflakeWarehouse;
  const load = await loadManifest(wh, deps.stagedRows, manifest, 'conformance/sf_kinds');
  expect(refused()).toEqual([]);
  expect(load.rowsLoaded).toBe(2);
  const rows = await wh.query(
    `SELECT id, money, big, f8, flag, ts, local_ts, d, doc, raw_json, tags, nums, guid, feeling, blob, note FROM ${load.rawTable} ORDER BY id`,
  );
  expect(rows[0]).toEqual({
    ...TYPE_MATRIX_ROW_1,
    ts: expect.stringMatching(/^2026-03-28T23:30:00\.123456(000)?Z$/),
    local_ts: expect.stringMatching(/^2026-03-29T01:30:00(\.0+)?$/),
    doc: '{"a": [1, 2], "b": "x,y"}',
  });
  expect(rows[1]).toMatchObject({ money: null, ts: null, doc: null, tags: null, guid: null, feeling: null, note: '' });
});

test.each(['sales_core', 'finance', 'operations'])(
  '%s: every model builds, every shipped check runs and the marts publish — no statement refused',
  async (name) => {
    const wh = deps.warehouse as SnowflakeWarehouse;
    const ds = config.datasets.find((d) => d.name === name)!;
    const runId = `${name}/window/${window.start}`;
    const built = await buildModels(wh, { dataset: name, targets: modelsToBuild(ds), runId, dialect: SNOWFLAKE });
    for (const m of built) builtModels.add(m.model);
    const results = await runChecks(wh, {
      dataset: ds,
      runId,
      counts: [],
      window,
      models: readModels(),
    });
    expect(
      results.filter((r) => r.detail.startsWith('check could not run')).map((r) => `${r.check}: ${r.detail}`),
    ).toEqual([]);
    expect(results).toHaveLength(ds.checks.length);
    const published = await publishTables(wh, name, ds.publish, [], { biRole: 'bi_reader' });
    expect(published.tables.map((t) => t.table)).toEqual(ds.publish.map((p) => `certified.${p}`));
    expect(refused()).toEqual([]);
  },
);

test('all shipped models were built on Snowflake', () => {
  const models = [...readModels().values()];
  expect(models.filter((m) => !builtModels.has(m.name)).map((m) => m.name)).toEqual([]);
});

test('bounded raw: compaction runs in SQL Snowflake accepts and keeps every latest version (one load each: nothing superseded)', async () => {
  const wh = deps.warehouse as SnowflakeWarehouse;
  const count = async () => (await wh.query<{ n: number }>('SELECT count(*) AS n FROM raw.shop__orders'))[0].n;
  const before = Number(await count());
  const compacted = await compactRaw(wh, readModels(), new Date(Date.now() + 86_400_000));
  expect(refused()).toEqual([]);
  expect(compacted.map((c) => c.table)).toContain('raw.shop__orders');
  expect(compacted.map((c) => c.table)).not.toContain('raw.shop__customers');
  expect(compacted.every((c) => c.removed === 0)).toBe(true);
  expect(Number(await count())).toBe(before);
});

standInOnly(
  'tables never published (staging, intermediate, helpers) are TRANSIENT; marts, which are cloned into certified, are not',
  () => {
    const models = readModels();
    const made = stand.statements
      .map((s) => /^CREATE (?:OR REPLACE )?(TRANSIENT )?TABLE (?:IF NOT EXISTS )?"shadow_\w+"\."(\w+)"/.exec(s.sqlText))
      .filter((m) => m !== null)
      .map((m) => ({ table: m[2], transient: m[1] !== undefined }));
    // A mart's whole rebuild (`<mart>__new`) is permanent: it is cloned into the mart, and the mart into certified.
    const martRebuild = (t: string) => t.endsWith('__new') && models.get(t.split('__')[0])?.layer === 'marts';
    const scratch = (t: string) => !martRebuild(t) && (t.includes('__') || models.get(t)?.layer !== 'marts');
    expect(made.filter((m) => m.transient !== scratch(m.table))).toEqual([]);
    expect(made.filter((m) => m.transient).length).toBeGreaterThan(10);
    expect(made.filter((m) => !m.transient).length).toBeGreaterThan(5);
  },
);

standInOnly(
  'the operator’s path on Snowflake: a failing error check quarantines, audit and health record it, release, dq report, freshness, retention purge',
  async () => {
    const wh = deps.warehouse as SnowflakeWarehouse;
    const ds = config.datasets.find((d) => d.name === 'finance')!;
    const run = { workflowId: `finance/window/${window.start}`, runId: 'r1', dataset: 'finance', window };
    // Two payments with a negative amount in the window's shadow: the error check quarantines them.
    await stand.read('CREATE OR REPLACE TABLE shadow_finance.fct_payments AS SELECT * FROM certified.fct_payments');
    const [{ total }] = await stand.read('SELECT count(*) AS total FROM shadow_finance.fct_payments');
    const bad = (
      await stand.read('SELECT payment_id FROM shadow_finance.fct_payments ORDER BY payment_id LIMIT 2')
    ).map((r) => String(r.payment_id));
    expect(bad).toHaveLength(2);
    await stand.read(`UPDATE shadow_finance.fct_payments SET amount = -5 WHERE payment_id = '${bad[0]}'`);
    await stand.read(`UPDATE shadow_finance.fct_payments SET amount = -1 WHERE payment_id = '${bad[1]}'`);
    {
      const results = await runChecks(wh, {
        dataset: ds,
        runId: run.workflowId,
        counts: [],
        window,
        models: readModels(),
      });
      expect(results.find((r) => r.check === 'payments_amount_positive')).toMatchObject({
        status: 'fail',
        failingRows: 2,
        quarantinedRows: 2,
        sampleKeys: ['-1.00', '-5.00'], // a range check samples the offending values
      });
      const quarantined = await stand.read(
        'SELECT payment_id, amount FROM quarantine.fct_payments ORDER BY payment_id',
      );
      expect(quarantined.map((r) => [String(r.payment_id), Number(r.amount)])).toEqual([
        [bad[0], -5],
        [bad[1], -1],
      ]);
      const [{ kept }] = await stand.read('SELECT count(*) AS kept FROM shadow_finance.fct_payments');
      expect(Number(kept)).toBe(Number(total) - 2);
      await recordCheckResults(wh, run, 1, results);
      await recordWindowCounts(wh, 'finance', window, [
        { table: 'payments', sourceRows: 40, stagedRows: 40, loadedRows: 40 },
      ]);
      await recordRun(wh, {
        ...run,
        status: 'published_with_errors',
        steps: { publish: ds.publish },
        gateDecision: { quarantined: 2 },
        error: null,
        startedAt: window.end,
      });
      const dq = createDqActivities(deps);
      expect(
        await dq.releaseQuarantine({
          dataset: 'finance',
          model: 'fct_payments',
          check: 'payments_amount_positive',
          by: 'alice',
          reason: 'refund corrections, verified with finance',
        }),
      ).toEqual({ released: 2 });
      const report = await dq.dqReport({ dataset: 'finance', since: window.start });
      expect(report.quarantine.map((q) => q.model)).toContain('fct_payments');
      await certifiedWatermark(wh, 'finance');
      await missedWindows(wh, ds, window.start, window.end);
      await purgeAudit(wh, '90d');
      const [{ open }] = await stand.read(
        'SELECT count(*) AS open FROM quarantine.fct_payments WHERE _dq_released_at IS NULL',
      );
      expect(Number(open)).toBe(0);
    }
    expect(refused()).toEqual([]);
  },
);
