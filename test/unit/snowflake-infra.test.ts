import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigError, DEFAULT_CONFIG_PATH, parseConfig } from '../../config/load';
import type { PipelineConfig } from '../../config/schema';
import {
  INFRA_SNOWFLAKE_DIR,
  type InfraPlan,
  renderSnowflakeInfra,
  renderTemplate,
  rsaPublicKeyBody,
  snowflakeInfraNames,
  splitStatements,
} from '../../infra/snowflake/render';

/**
 * The Snowflake DDL as rendered from config, read like a reviewer would: what BI_READER can reach, that
 * every configured PII column is masked, and that applying twice changes nothing.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Yaml = any;

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PUBLIC_PEM = publicKey.export({ type: 'spki', format: 'pem' }).toString();

/** The shipped pipeline (sales_core: customers with 4 PII columns) on Snowflake, plus a second dataset with its own PII. */
function production(mutate: (c: Yaml) => void = () => undefined): PipelineConfig {
  const c: Yaml = parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8'));
  c.datasets.push({
    name: 'support',
    cadence: '1h',
    freshnessSla: '2h',
    source: 'shop',
    tables: [
      { name: 'tickets', schema: 'shop', primaryKey: ['ticket_id'], pii: ['requester_email', 'requester_name'] },
      // Same source table as sales_core's, declared alike (config requires it): one raw table, so one
      // attachment per column, not two.
      {
        name: 'customers',
        schema: 'shop',
        primaryKey: ['customer_id'],
        pii: ['email', 'phone', 'full_name', 'address'],
      },
    ],
    publish: ['fct_support_tickets'],
  });
  c.warehouse = {
    type: 'snowflake',
    account: 'myorg-analytics',
    user: 'FRESHLINE_SVC',
    role: 'FRESHLINE',
    warehouse: 'FRESHLINE_WH',
    database: 'ANALYTICS',
    privateKeySecret: 'freshline/snowflake-key',
    externalStage: { name: 'freshline_stage', url: 's3://acme-freshline/stage/', storageIntegration: 'freshline_s3' },
    biRole: 'bi_reader',
    infra: {
      tableau: { publicKeySecret: 'freshline/tableau-public-key', allowedIps: ['203.0.113.0/24', '198.51.100.7'] },
    },
  };
  c.stage = { type: 's3', bucket: 'acme-freshline', prefix: 'stage', region: 'eu-west-1' };
  mutate(c);
  return parseConfig(c);
}

const render = (config = production()) => renderSnowflakeInfra(config, { tableauPublicKey: PUBLIC_PEM });
const all = (plan: InfraPlan) =>
  plan.migrations.flatMap((m) => m.statements.map((sql) => ({ file: m.file, sql: sql.replace(/\s+/g, ' ') })));

interface Grant {
  privileges: string[];
  on: string;
  to: string;
  sql: string;
}

/** `GRANT <privileges> ON <object> TO ROLE <role>` statements (role grants excluded). */
function privilegeGrants(plan: InfraPlan): Grant[] {
  return all(plan)
    .map(({ sql }) => ({ sql, m: /^GRANT (.+?) ON (.+) TO ROLE (\S+)$/.exec(sql) }))
    .filter((g): g is { sql: string; m: RegExpExecArray } => g.m !== null && !/^GRANT ROLE /.test(g.sql))
    .map(({ sql, m }) => ({ privileges: m[1].split(/\s*,\s*/), on: m[2], to: m[3], sql }));
}

/** `GRANT ROLE <role> TO {ROLE|USER} <grantee>` statements. */
function roleGrants(plan: InfraPlan): { role: string; to: string }[] {
  return all(plan)
    .map(({ sql }) => /^GRANT ROLE (\S+) TO ((?:ROLE|USER) \S+)$/.exec(sql))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ role: m[1], to: m[2] }));
}

describe('BI_READER (Tableau) can read the bi views and nothing else', () => {
  const plan = render();
  const bi = '"BI_READER"';

  test('its grants are exactly: USAGE on the database and on schema bi, SELECT on all and future bi views, USAGE on its warehouse', () => {
    const grants = privilegeGrants(plan)
      .filter((g) => g.to === bi)
      .map((g) => `${g.privileges.join(', ')} ON ${g.on}`);
    expect(grants.sort()).toEqual(
      [
        'USAGE ON DATABASE "ANALYTICS"',
        'USAGE ON SCHEMA "ANALYTICS"."BI"',
        'SELECT ON ALL VIEWS IN SCHEMA "ANALYTICS"."BI"',
        'SELECT ON FUTURE VIEWS IN SCHEMA "ANALYTICS"."BI"',
        'USAGE ON WAREHOUSE "FRESHLINE_BI_WH"',
      ].sort(),
    );
  });

  test('no statement gives it anything on raw, shadow, certified, audit, quarantine or governance objects', () => {
    const forbidden = /"ANALYTICS"\."(RAW|SHADOW_[A-Z0-9_]+|CERTIFIED|AUDIT|QUARANTINE|GOVERNANCE)"/;
    const toBi = all(plan).filter(({ sql }) => /^GRANT /.test(sql) && sql.endsWith(`TO ROLE ${bi}`));
    expect(toBi.length).toBeGreaterThan(0);
    for (const { sql } of toBi) expect(sql).not.toMatch(forbidden);
    // Views only, never tables: certified is reached through the bi views' owner rights.
    for (const g of privilegeGrants(plan).filter((x) => x.to === bi))
      expect(g.on).not.toMatch(/TABLES|STAGE|INTEGRATION|MASKING/);
    // What earlier publishes granted on certified is revoked.
    expect(all(plan).map((s) => s.sql)).toEqual(
      expect.arrayContaining([
        `REVOKE SELECT ON ALL TABLES IN SCHEMA "ANALYTICS"."CERTIFIED" FROM ROLE ${bi}`,
        `REVOKE USAGE ON SCHEMA "ANALYTICS"."CERTIFIED" FROM ROLE ${bi}`,
      ]),
    );
  });

  test("it inherits no other role, and Tableau's user holds it alone", () => {
    const grants = roleGrants(plan);
    expect(grants.filter((g) => g.to === `ROLE ${bi}`)).toEqual([]);
    expect(grants.filter((g) => g.to === 'USER "TABLEAU_SVC"')).toEqual([{ role: bi, to: 'USER "TABLEAU_SVC"' }]);
    expect(
      grants
        .filter((g) => g.role === bi)
        .map((g) => g.to)
        .sort(),
    ).toEqual(['ROLE SYSADMIN', 'USER "TABLEAU_SVC"']);
  });

  test("Tableau's user: service type (no password), key pair from the secret, network policy, BI_READER by default, no secondary roles", () => {
    const user = all(plan).filter(({ sql }) => /^(CREATE|ALTER) USER (IF NOT EXISTS )?"TABLEAU_SVC"/.test(sql));
    expect(user).toHaveLength(2);
    const body = rsaPublicKeyBody(PUBLIC_PEM);
    for (const { sql } of user) {
      expect(sql).toContain(`RSA_PUBLIC_KEY = '${body}'`);
      expect(sql).toContain('NETWORK_POLICY = "TABLEAU_SVC_NETWORK_POLICY"');
      expect(sql).toContain(`DEFAULT_ROLE = ${bi}`);
      expect(sql).toContain('DEFAULT_SECONDARY_ROLES = ()');
      expect(sql).not.toMatch(/PASSWORD/);
    }
    expect(user[0].sql).toContain('TYPE = SERVICE');
    expect(all(plan).map((s) => s.sql)).toContain(
      `CREATE OR ALTER NETWORK RULE "ANALYTICS"."GOVERNANCE"."TABLEAU_SVC_INGRESS" TYPE = IPV4 MODE = INGRESS VALUE_LIST = ('203.0.113.0/24', '198.51.100.7') COMMENT = 'Addresses Tableau (Cloud egress or Bridge hosts) connects from'`,
    );
  });
});

describe('functional roles', () => {
  const plan = render();
  const grantsTo = (role: string) => privilegeGrants(plan).filter((g) => g.to === role);

  test('LOADER writes raw and reads the stage; it cannot read shadow, certified, bi or quarantine', () => {
    const loader = grantsTo('"ANALYTICS_LOADER"');
    expect(loader.map((g) => g.on)).toEqual(
      expect.arrayContaining([
        'SCHEMA "ANALYTICS"."RAW"',
        'STAGE "ANALYTICS"."RAW"."FRESHLINE_STAGE"',
        'INTEGRATION "FRESHLINE_S3"',
      ]),
    );
    expect(loader.find((g) => g.on === 'FUTURE TABLES IN SCHEMA "ANALYTICS"."RAW"')?.privileges).toEqual(
      expect.arrayContaining(['INSERT', 'DELETE']),
    );
    for (const g of loader) expect(g.on).not.toMatch(/"(SHADOW_[A-Z_]+|CERTIFIED|BI|QUARANTINE|GOVERNANCE)"/);
  });

  test('TRANSFORMER reads raw (SELECT only) and writes every shadow schema, certified, bi, audit and quarantine', () => {
    const t = grantsTo('"ANALYTICS_TRANSFORMER"');
    for (const g of t.filter((x) => x.on.includes('"RAW"')))
      expect(g.privileges.every((p) => ['USAGE', 'SELECT'].includes(p))).toBe(true);
    for (const schema of ['SHADOW_SALES_CORE', 'SHADOW_SUPPORT', 'CERTIFIED', 'AUDIT', 'QUARANTINE']) {
      expect(t.find((g) => g.on === `FUTURE TABLES IN SCHEMA "ANALYTICS"."${schema}"`)?.privileges).toEqual(
        expect.arrayContaining(['INSERT', 'DELETE']),
      );
    }
    expect(t.find((g) => g.on === 'SCHEMA "ANALYTICS"."BI"')?.privileges).toEqual(['USAGE', 'CREATE VIEW']);
  });

  test("the worker's role holds LOADER and TRANSFORMER; PII_ADMIN is granted to no role", () => {
    const grants = roleGrants(plan);
    expect(
      grants
        .filter((g) => g.to === 'ROLE "FRESHLINE"')
        .map((g) => g.role)
        .sort(),
    ).toEqual(['"ANALYTICS_LOADER"', '"ANALYTICS_TRANSFORMER"']);
    expect(grants.filter((g) => g.role === '"ANALYTICS_PII_ADMIN"')).toEqual([]);
  });

  test('role names that would collapse two roles into one are refused', () => {
    expect(() => render(production((c) => (c.warehouse.role = 'ANALYTICS_LOADER')))).toThrow(
      /roles worker and loader are both ANALYTICS_LOADER/,
    );
    expect(() => render(production((c) => (c.warehouse.biRole = 'freshline')))).toThrow(/must be different roles/);
    expect(() => render(production((c) => (c.warehouse.infra.tableau.warehouse = 'FRESHLINE_WH')))).toThrow(
      /own warehouse/,
    );
  });
});

describe('PII masking', () => {
  const config = production();
  const plan = render(config);

  test('every configured PII column of every dataset gets the masking policy on its raw table', () => {
    const expected = new Set<string>();
    for (const ds of config.datasets) {
      for (const t of ds.tables) {
        for (const col of t.pii) {
          expected.add(
            `ALTER TABLE IF EXISTS "ANALYTICS"."RAW"."${`${ds.source}__${t.name}`.toUpperCase()}" MODIFY COLUMN "${col.toUpperCase()}" ` +
              'SET MASKING POLICY "ANALYTICS"."GOVERNANCE"."PII_TOKEN_MASK" FORCE',
          );
        }
      }
    }
    expect(expected.size).toBe(6); // 4 of shop.customers (email shared by both datasets) + 2 of shop.tickets
    const attachments = all(plan).filter(({ sql }) => /SET MASKING POLICY/.test(sql));
    expect(attachments.map((a) => a.sql).sort()).toEqual([...expected].sort());
    // Raw tables appear with their first load: attachments are re-asserted on every apply.
    expect(new Set(attachments.map((a) => a.file))).toEqual(new Set(['R__pii_masking.sql']));
    expect(snowflakeInfraNames(config).piiColumns).toHaveLength(6);
  });

  test('the policy shows tokens to PII_ADMIN, TRANSFORMER and the worker only (exact primary role), masks them for everyone else', () => {
    const policy = all(plan).filter(
      ({ sql }) =>
        /MASKING POLICY (IF NOT EXISTS )?"ANALYTICS"\."GOVERNANCE"\."PII_TOKEN_MASK"/.test(sql) &&
        !/^ALTER TABLE/.test(sql),
    );
    expect(policy.map((p) => p.sql.split(' ').slice(0, 3).join(' '))).toEqual([
      'CREATE MASKING POLICY',
      'ALTER MASKING POLICY',
      'GRANT APPLY ON',
    ]);
    // Publish sets it on certified's PII-derived columns after each swap, as the worker.
    expect(policy[2].sql).toBe(
      'GRANT APPLY ON MASKING POLICY "ANALYTICS"."GOVERNANCE"."PII_TOKEN_MASK" TO ROLE "FRESHLINE"',
    );
    for (const { sql } of policy.slice(0, 2)) {
      expect(sql).toContain(
        `CASE WHEN CURRENT_ROLE() IN ('ANALYTICS_PII_ADMIN', 'ANALYTICS_TRANSFORMER', 'FRESHLINE') THEN val ELSE '***MASKED***' END`,
      );
      expect(sql).not.toMatch(/BI_READER|ANALYTICS_LOADER|SYSADMIN/);
    }
  });

  test('without PII columns there is nothing to attach', () => {
    const none = render(
      production((c) => c.datasets.forEach((d: Yaml) => d.tables.forEach((t: Yaml) => delete t.pii))),
    );
    expect(none.migrations.find((m) => m.file === 'R__pii_masking.sql')?.statements).toEqual([]);
  });
});

describe('idempotent', () => {
  test('rendering twice gives the same text and checksums', () => {
    expect(render()).toEqual(render());
    expect(render().migrations.map((m) => m.checksum)).toEqual(render().migrations.map((m) => m.checksum));
  });

  test('every CREATE is IF NOT EXISTS, OR REPLACE or OR ALTER; every ALTER sets a state; nothing is dropped', () => {
    const statements = all(render());
    expect(statements.length).toBeGreaterThan(100);
    for (const { file, sql } of statements) {
      const verb = sql.split(' ')[0];
      expect({ file, verb }).toEqual({ file, verb: expect.stringMatching(/^(CREATE|ALTER|GRANT|REVOKE|USE)$/) });
      if (verb === 'CREATE') expect(sql).toMatch(/^CREATE OR (REPLACE|ALTER) |^CREATE [A-Z ]+? IF NOT EXISTS /);
      if (verb === 'ALTER') expect(sql).toMatch(/ SET /);
      expect(sql).not.toMatch(/\bDROP\b|\bUNSET\b/);
    }
  });

  test('a config change changes only the files that render it', () => {
    const before = render();
    const after = render(
      // Every declaration of shop.orders at once: config requires them to agree.
      production((c) =>
        c.datasets.forEach((d: Yaml) =>
          d.tables
            .filter((t: Yaml) => t.name === 'orders')
            .forEach((t: Yaml) => (t.pii ??= []).push('shipping_address')),
        ),
      ),
    );
    const changed = after.migrations.filter((m, i) => m.checksum !== before.migrations[i].checksum).map((m) => m.file);
    expect(changed).toEqual(['R__pii_masking.sql']);
    const added = render(production((c) => c.datasets.push({ ...c.datasets[1], name: 'marketing' })));
    expect(added.migrations.filter((m, i) => m.checksum !== before.migrations[i].checksum).map((m) => m.file)).toEqual([
      'V002__database_and_schemas.sql',
      'V004__grants.sql',
    ]);
  });
});

describe('files and rendering', () => {
  test('infra/snowflake holds one bootstrap, numbered versions and repeatables, in run order', () => {
    const sql = readdirSync(INFRA_SNOWFLAKE_DIR).filter((f) => f.endsWith('.sql'));
    // With awsRoleArn set, so that the storage integration (V000) is rendered too.
    const plan = render(
      production((c) => (c.warehouse.externalStage.awsRoleArn = 'arn:aws:iam::123456789012:role/freshline-snowflake')),
    );
    expect(plan.migrations.map((m) => m.file)).toEqual([
      'B__bootstrap.sql',
      ...sql.filter((f) => f.startsWith('V')).sort(),
      ...sql.filter((f) => f.startsWith('R')).sort(),
    ]);
    expect(plan.migrations.map((m) => m.version)).toEqual([
      'B__bootstrap',
      'V000',
      'V001',
      'V002',
      'V003',
      'V004',
      'V005',
      'V006',
      'R__pii_masking',
    ]);
  });

  test('an unknown placeholder fails the render; lists need #each', () => {
    expect(() => renderTemplate('GRANT USAGE ON {{nope}}', {}, 'V9__x.sql')).toThrow(
      'V9__x.sql: unknown placeholder {{nope}}',
    );
    expect(() => renderTemplate('{{xs}}', { xs: [] }, 'f')).toThrow(/a list: use \{\{#each\}\}/);
    expect(renderTemplate('{{#each xs}}[{{a}}{{b}}]{{/each}}', { b: '!', xs: [{ a: '1' }, { a: '2' }] })).toBe(
      '[1!][2!]',
    );
  });

  test('statements split on ; outside literals, quoted names, $$ blocks and comments', () => {
    expect(splitStatements('-- a; comment\nSELECT \'x;y\' AS "a;b";\n/* ; */ SELECT $$ ; $$;;\n  \n')).toEqual([
      'SELECT \'x;y\' AS "a;b"',
      'SELECT $$ ; $$',
    ]);
  });

  test("without Tableau's key (a dry run that cannot read the secret) the statements say so instead", () => {
    const plan = renderSnowflakeInfra(production());
    expect(
      all(plan).filter(({ sql }) =>
        sql.includes("RSA_PUBLIC_KEY = '<RSA public key from secret freshline/tableau-public-key>'"),
      ),
    ).toHaveLength(2);
  });

  test("Tableau's key must be an RSA public key", () => {
    expect(rsaPublicKeyBody(PUBLIC_PEM)).toBe(rsaPublicKeyBody(rsaPublicKeyBody(PUBLIC_PEM)));
    expect(() => rsaPublicKeyBody(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())).toThrow(
      /PRIVATE key/,
    );
    expect(() => rsaPublicKeyBody('not a key')).toThrow(/not a PEM or base64 public key/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    expect(() => rsaPublicKeyBody(ec)).toThrow(/must be RSA/);
  });
});

describe('configuration', () => {
  test('the DuckDB default has nothing to apply, and says what Tableau gets instead', () => {
    const duck = parseConfig(parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')));
    expect(() => renderSnowflakeInfra(duck)).toThrow(/the configured warehouse is duckdb.*tableau\.duckdb/);
  });

  test('Snowflake without an infra section names the fields to add', () => {
    expect(() => render(production((c) => delete c.warehouse.infra))).toThrow(
      /warehouse\.infra\.tableau\.publicKeySecret.*allowedIps/,
    );
  });

  test('invalid infra fields fail config validation with their path', () => {
    expect(() => production((c) => (c.warehouse.infra.tableau.allowedIps = ['0.0.0.0/33']))).toThrow(ConfigError);
    expect(() => production((c) => (c.warehouse.infra.tableau.allowedIps = ['10.0.0.300']))).toThrow(
      /warehouse\.infra\.tableau\.allowedIps\[0\]: must be an IPv4/,
    );
    expect(() => production((c) => (c.warehouse.infra.tableau.allowedIps = []))).toThrow(
      /warehouse\.infra\.tableau\.allowedIps/,
    );
    expect(() => production((c) => (c.warehouse.infra.autoSuspendSeconds = 5))).toThrow(
      /warehouse\.infra\.autoSuspendSeconds/,
    );
  });

  test('defaults: ACCOUNTADMIN applies, XSMALL warehouses suspending after 60 s, 100 / 50 monthly credits', () => {
    const cfg = production();
    expect(cfg.warehouse.type === 'snowflake' && cfg.warehouse.infra).toMatchObject({
      admin: { role: 'ACCOUNTADMIN' },
      warehouseSize: 'XSMALL',
      autoSuspendSeconds: 60,
      monthlyCredits: { pipeline: 100, bi: 50 },
      tableau: { user: 'TABLEAU_SVC', warehouse: 'FRESHLINE_BI_WH', statementTimeout: '15m' },
    });
  });
});
