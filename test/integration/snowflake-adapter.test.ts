import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EnvSecretStore, type SecretStore } from '../../activities/secrets/secret-store';
import {
  SnowflakeWarehouse,
  type SnowflakeWarehouseOptions,
  SnowflakeWarehouseError,
} from '../../activities/warehouse/engines/snowflake';
import { type RecordedStatement, type SnowflakeStandIn, startSnowflakeStandIn } from '../stand-ins/snowflake';

/**
 * The Snowflake adapter driving the real snowflake-sdk over HTTP against the REST stand-in: nothing of
 * ours or of the driver is mocked. Secrets are distinctive strings so any leak is findable by search.
 */

const ACCOUNT = 'FRESHLINE_TEST';
const PASSWORD = 'pw-Zq81-never-log-this';
const PASSPHRASE = 'pp-Hk27-never-log-this';

function rsaKeys(passphrase?: string) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = passphrase
    ? privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }).toString()
    : privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { pem, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** A line of base64 key material from the middle of a PEM: present in any copy of the key, in any form. */
const keyMaterial = (pem: string) => pem.split('\n')[5];

const loaderKey = rsaKeys();
const encryptedKey = rsaKeys(PASSPHRASE);
const strangerKey = rsaKeys();
const secretTexts = [
  PASSWORD,
  PASSPHRASE,
  keyMaterial(loaderKey.pem),
  keyMaterial(encryptedKey.pem),
  keyMaterial(strangerKey.pem),
];

const secrets = new EnvSecretStore({
  SF_LOADER_KEY: loaderKey.pem,
  SF_ENCRYPTED_KEY: encryptedKey.pem,
  SF_ENCRYPTED_KEY_PASSPHRASE: PASSPHRASE,
  SF_STRANGER_KEY: strangerKey.pem,
  SF_ANALYST_PASSWORD: PASSWORD,
  SF_WRONG_PASSWORD: 'not-the-password',
});

let stand: SnowflakeStandIn;
const output: string[] = [];
const restoreOutput: (() => void)[] = [];
const logExistedBefore = existsSync(join(process.cwd(), 'snowflake.log'));

const jwtOptions = (over: Partial<SnowflakeWarehouseOptions> = {}): SnowflakeWarehouseOptions => ({
  account: ACCOUNT.toLowerCase(),
  username: 'loader',
  role: 'FRESHLINE_LOADER',
  warehouse: 'FRESHLINE_WH',
  database: 'ANALYTICS',
  schema: 'PUBLIC',
  authenticator: 'SNOWFLAKE_JWT',
  privateKeySecret: 'SF_LOADER_KEY',
  accessUrl: stand.url,
  ...over,
});

const passwordOptions = (over: Partial<SnowflakeWarehouseOptions> = {}): SnowflakeWarehouseOptions => ({
  account: ACCOUNT,
  username: 'ANALYST',
  authenticator: 'SNOWFLAKE',
  passwordSecret: 'SF_ANALYST_PASSWORD',
  accessUrl: stand.url,
  ...over,
});

/** Statements of one session recorded after `from`, without the adapter's own ALTER SESSIONs. */
function userStatements(sessionId: number, from = 0): RecordedStatement[] {
  return stand.statements.slice(from).filter((s) => s.sessionId === sessionId && !/^ALTER SESSION/i.test(s.sqlText));
}

function sessionOf(wh: SnowflakeWarehouse): number {
  // The newest successful login belongs to the warehouse just connected (tests connect one at a time).
  void wh;
  const login = [...stand.logins].reverse().find((l) => l.ok);
  if (!login?.sessionId) throw new Error('no successful login recorded');
  return login.sessionId;
}

async function failure(promise: Promise<unknown>): Promise<SnowflakeWarehouseError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(SnowflakeWarehouseError);
    return err as SnowflakeWarehouseError;
  }
  throw new Error('expected a failure');
}

beforeAll(async () => {
  // Capture (and still pass through) everything written to the process's stdout/stderr, to search it for secrets.
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      output.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    restoreOutput.push(() => {
      stream.write = original;
    });
  }
  stand = await startSnowflakeStandIn({
    account: ACCOUNT,
    users: [
      { name: 'LOADER', publicKeyPem: loaderKey.publicPem },
      { name: 'ENCRYPTED', publicKeyPem: encryptedKey.publicPem },
      { name: 'ANALYST', password: PASSWORD },
    ],
  });
});

afterAll(async () => {
  for (const restore of restoreOutput) restore();
  await stand.close();
});

describe('authentication', () => {
  test('key pair: the driver signs a JWT the server verifies against the registered public key', async () => {
    const wh = await SnowflakeWarehouse.connect(jwtOptions(), secrets);
    const session = stand.sessions.get(sessionOf(wh));
    const login = stand.logins.at(-1);
    expect(login).toMatchObject({ user: 'LOADER', authenticator: 'SNOWFLAKE_JWT', ok: true });
    expect(login?.query).toMatchObject({
      roleName: 'FRESHLINE_LOADER',
      warehouse: 'FRESHLINE_WH',
      databaseName: 'ANALYTICS',
      schemaName: 'PUBLIC',
    });
    expect(session?.parameters.TIMEZONE).toBe('UTC');
    expect(session?.parameters.QUOTED_IDENTIFIERS_IGNORE_CASE).toBe('TRUE');
    stand.on(/^SELECT 1$/, () => ({ columns: [{ name: '1', type: 'NUMBER(1,0)' }], rows: [[1]] }));
    expect(await wh.query('SELECT 1')).toEqual([{ 1: 1 }]);
    await wh.close();
    expect(session?.closed).toBe(true);
  });

  test('an encrypted private key is opened with the passphrase secret', async () => {
    const wh = await SnowflakeWarehouse.connect(
      jwtOptions({
        username: 'ENCRYPTED',
        privateKeySecret: 'SF_ENCRYPTED_KEY',
        privateKeyPassphraseSecret: 'SF_ENCRYPTED_KEY_PASSPHRASE',
      }),
      secrets,
    );
    expect(stand.logins.at(-1)).toMatchObject({ user: 'ENCRYPTED', ok: true });
    await wh.close();
  });

  test('a key the user does not own is rejected with Snowflake’s JWT error, naming no key material', async () => {
    const err = await failure(SnowflakeWarehouse.connect(jwtOptions({ privateKeySecret: 'SF_STRANGER_KEY' }), secrets));
    expect(err.code).toBe('390144');
    expect(err.statement).toBe("login of user 'loader' on account 'freshline_test'");
    expect(err.message).toMatch(/390144.*JWT token is invalid/);
    for (const s of secretTexts) expect(err.message + String(err.stack)).not.toContain(s);
    expect(stand.logins.at(-1)).toMatchObject({ user: 'loader', ok: false, code: '390144' });
  });

  test('password login succeeds; a wrong password fails with 390100', async () => {
    const wh = await SnowflakeWarehouse.connect(passwordOptions(), secrets);
    expect(stand.logins.at(-1)).toMatchObject({ user: 'ANALYST', authenticator: 'SNOWFLAKE', ok: true });
    await wh.close();
    const err = await failure(
      SnowflakeWarehouse.connect(passwordOptions({ passwordSecret: 'SF_WRONG_PASSWORD' }), secrets),
    );
    expect(err.code).toBe('390100');
    expect(err.message).toMatch(/Incorrect username or password/);
    expect(err.message).not.toContain('not-the-password');
  });

  test('after an authentication failure, a store that can refresh is asked to, and the login retried once', async () => {
    let rotated = false;
    const refreshed: string[] = [];
    const rotating: SecretStore & { refresh(name: string): Promise<void> } = {
      get: async () => (rotated ? loaderKey.pem : strangerKey.pem),
      refresh: async (name) => {
        refreshed.push(name);
        rotated = true;
      },
    };
    const wh = await SnowflakeWarehouse.connect(jwtOptions({ privateKeySecret: 'SF_ROTATING_KEY' }), rotating);
    expect(refreshed).toEqual(['SF_ROTATING_KEY']);
    expect(stand.logins.slice(-2).map((l) => l.ok)).toEqual([false, true]);
    await wh.close();
  });

  test('a missing option or secret is reported by name before anything is sent', async () => {
    const before = stand.requests.length;
    await expect(SnowflakeWarehouse.connect(jwtOptions({ privateKeySecret: undefined }), secrets)).rejects.toThrow(
      /privateKeySecret/,
    );
    await expect(SnowflakeWarehouse.connect(jwtOptions({ privateKeySecret: 'SF_NOT_THERE' }), secrets)).rejects.toThrow(
      /secret 'SF_NOT_THERE' is not set/,
    );
    expect(stand.requests.length).toBe(before);
  });
});

describe('statements', () => {
  let wh: SnowflakeWarehouse;
  let sessionId: number;
  beforeAll(async () => {
    wh = await SnowflakeWarehouse.connect(
      // One session: these tests are about what a session carries when callers interleave on it.
      jwtOptions({ queryTag: { app: 'freshline', env: 'test' }, statementTimeoutSeconds: 3600, sessions: 1 }),
      secrets,
    );
    sessionId = sessionOf(wh);
  });
  afterAll(async () => {
    await wh.close();
  });

  test('every statement carries the QUERY_TAG of the object it ran through, also interleaved', async () => {
    const from = stand.statements.length;
    const orders = wh.withQueryTag({ dataset: 'orders', runId: 'run-1' });
    const customers = wh.withQueryTag({ dataset: 'customers', runId: 'run-2' });
    expect(orders.queryTag).toBe('{"app":"freshline","env":"test","dataset":"orders","runId":"run-1"}');
    expect(stand.sessions.get(sessionId)?.parameters.STATEMENT_TIMEOUT_IN_SECONDS).toBe('3600');
    // Concurrent callers on one session: the queue must switch the tag before each statement that needs another.
    await Promise.all([
      wh.run('DELETE FROM plain_1'),
      orders.run('DELETE FROM orders_1'),
      customers.run('DELETE FROM customers_1'),
      orders.query('SELECT * FROM orders_2'),
      wh.query('SELECT * FROM plain_2'),
      customers.transaction(async (tx) => {
        await tx.run('DELETE FROM customers_2');
        await tx.run('INSERT INTO customers_2 SELECT 1');
      }),
      orders.ensureSchema('raw'),
    ]);
    const expected: Record<string, string> = {
      plain: wh.queryTag ?? '',
      orders: orders.queryTag ?? '',
      customers: customers.queryTag ?? '',
    };
    const seen = userStatements(sessionId, from);
    expect(seen.map((s) => s.sqlText)).toEqual([
      'DELETE FROM plain_1',
      'DELETE FROM orders_1',
      'DELETE FROM customers_1',
      'SELECT * FROM orders_2',
      'SELECT * FROM plain_2',
      'BEGIN TRANSACTION',
      'DELETE FROM customers_2',
      'INSERT INTO customers_2 SELECT 1',
      'COMMIT',
      'CREATE SCHEMA IF NOT EXISTS "raw"',
    ]);
    for (const s of seen) {
      const table =
        /(plain|orders|customers)/.exec(s.sqlText)?.[1] ??
        (/TRANSACTION|COMMIT/.test(s.sqlText) ? 'customers' : 'orders');
      expect({ sql: s.sqlText, tag: s.queryTag }).toEqual({ sql: s.sqlText, tag: expected[table] });
    }
    // The tag is switched only when it changes, and never inside the transaction.
    const alters = stand.statements.slice(from).filter((s) => /^ALTER SESSION SET QUERY_TAG/.test(s.sqlText));
    expect(alters.length).toBe(6);
  });

  test('$n placeholders reach the server as numbered binds, never inlined', async () => {
    stand.on(/^INSERT INTO audit_rows/, (_sql, binds) => ({ updated: binds.length === 5 ? 1 : 0 }));
    const n = await wh.run("INSERT INTO audit_rows VALUES ($1, $2, $3, '$1 stays', $4::TIMESTAMP_TZ, $5, $1)", [
      42,
      "O'Brien; DROP TABLE x --",
      null,
      '2024-03-01T00:00:00Z',
      1.5,
    ]);
    expect(n).toBe(1);
    const s = stand.statements.at(-1);
    expect(s?.sqlText).toBe("INSERT INTO audit_rows VALUES (:1, :2, :3, '$1 stays', :4::TIMESTAMP_TZ, :5, :1)");
    expect(s?.binds).toEqual([42, "O'Brien; DROP TABLE x --", null, '2024-03-01T00:00:00Z', 1.5]);
    expect(s?.bindTypes).toEqual(['FIXED', 'TEXT', 'TEXT', 'TEXT', 'REAL']);
    expect(s?.sqlText).not.toContain("O'Brien");
    // Only placeholders are rewritten: not inside literals, quoted names, $$ blocks or comments, nor a staged file's `$1:path`.
    await wh.query(
      "SELECT $1:id, 'it''s $2', 'c:\\$2', \"col$2\", $$ $2 $$, $2 -- $2\n/* $2 */ FROM @stage s WHERE s.$3 = $2 AND y = $10",
      Array.from({ length: 10 }, (_, i) => i),
    );
    expect(stand.statements.at(-1)?.sqlText).toBe(
      "SELECT $1:id, 'it''s $2', 'c:\\$2', \"col$2\", $$ $2 $$, :2 -- $2\n/* $2 */ FROM @stage s WHERE s.$3 = :2 AND y = :10",
    );
  });

  test('run returns DML counts as Snowflake reports them; unprogrammed statements succeed with 0', async () => {
    stand.on(/^MERGE INTO stg/, () => ({ updated: 7 }));
    expect(await wh.run('MERGE INTO stg USING src ON stg.id = src.id WHEN MATCHED THEN DELETE')).toBe(7);
    expect(await wh.run('UPDATE nothing SET x = 1')).toBe(0);
    expect(await wh.run('CREATE TABLE IF NOT EXISTS t (id INT)')).toBe(0);
    stand.on(/^COPY INTO raw_orders/, () => ({
      columns: [
        { name: 'file', type: 'VARCHAR' },
        { name: 'status', type: 'VARCHAR' },
        { name: 'rows_parsed', type: 'NUMBER(38,0)' },
        { name: 'rows_loaded', type: 'NUMBER(38,0)' },
      ],
      rows: [
        ['s3://stage/a.parquet', 'LOADED', 3, 3],
        ['s3://stage/b.parquet', 'LOADED', 4, 4],
      ],
    }));
    expect(await wh.run('COPY INTO raw_orders FROM @stage')).toBe(7);
  });

  test('query returns JSON-safe rows: exact decimals as text, integers as numbers, ISO timestamps, lower-cased unquoted names', async () => {
    stand.on(/FROM mart_orders/, () => ({
      columns: [
        { name: 'ORDER_ID', type: 'NUMBER(38,0)' },
        { name: 'BIG_ID', type: 'NUMBER(38,0)' },
        { name: 'AMOUNT', type: 'NUMBER(12,2)' },
        { name: 'RATIO', type: 'FLOAT' },
        { name: 'PAID', type: 'BOOLEAN' },
        { name: 'ORDER_DATE', type: 'DATE' },
        { name: 'CREATED_AT', type: 'TIMESTAMP_NTZ(6)' },
        { name: 'LOADED_AT', type: 'TIMESTAMP_LTZ(3)' },
        { name: 'PLACED_AT', type: 'TIMESTAMP_TZ(9)' },
        { name: 'ATTRS', type: 'VARIANT' },
        { name: 'NOTE', type: 'VARCHAR' },
        { name: 'MixedCase', type: 'VARCHAR' },
        { name: 'COUNT(*)', type: 'NUMBER(18,0)' },
      ],
      rows: [
        [
          1001,
          '9007199254740993',
          '1234.50',
          0.25,
          true,
          '2024-02-29',
          '2024-03-01T12:34:56.123456',
          '2024-03-01T23:30:00.250Z',
          '2024-03-02T01:00:00.123456789+02:00',
          { tier: 'gold', tags: ['a', 'b'] },
          null,
          'kept',
          3,
        ],
      ],
    }));
    const rows = await wh.query('SELECT * FROM mart_orders WHERE order_date = $1', ['2024-02-29']);
    expect(rows).toEqual([
      {
        order_id: 1001,
        big_id: '9007199254740993',
        amount: '1234.50',
        ratio: 0.25,
        paid: true,
        order_date: '2024-02-29',
        created_at: '2024-03-01T12:34:56.123456',
        loaded_at: '2024-03-01T23:30:00.250Z',
        placed_at: '2024-03-01T23:00:00.123456789Z',
        attrs: '{"tier":"gold","tags":["a","b"]}',
        note: null,
        MixedCase: 'kept',
        'COUNT(*)': 3,
      },
    ]);
    expect(JSON.parse(JSON.stringify(rows))).toEqual(rows);
  });

  test('tableExists asks INFORMATION_SCHEMA with binds', async () => {
    stand.on(/FROM INFORMATION_SCHEMA\.TABLES/, (_sql, [schema, table]) => ({
      columns: [{ name: 'N', type: 'NUMBER(18,0)' }],
      rows: [[schema === 'raw' && table === 'orders' ? 1 : 0]],
    }));
    expect(await wh.tableExists('raw', 'orders')).toBe(true);
    expect(await wh.tableExists('raw', 'nope')).toBe(false);
    expect(stand.statements.at(-1)).toMatchObject({
      sqlText:
        'SELECT COUNT(*) AS n FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = UPPER(:1) AND TABLE_NAME = UPPER(:2)',
      binds: ['raw', 'nope'],
    });
  });

  test('a failing statement inside a transaction is rolled back and surfaces code, SQLSTATE and its first line', async () => {
    const from = stand.statements.length;
    stand.on(/^INSERT INTO missing_table/, () => ({
      error: {
        code: '002003',
        sqlState: '42S02',
        message: "SQL compilation error:\nObject 'MISSING_TABLE' does not exist or not authorized.",
      },
    }));
    const err = await failure(
      wh.transaction(async (tx) => {
        await tx.run('DELETE FROM raw.orders WHERE _window_start = $1', ['2024-03-01T00:00:00Z']);
        await tx.run('INSERT INTO missing_table\nSELECT * FROM staged');
        return 'unreachable';
      }),
    );
    expect(err).toMatchObject({ code: '002003', sqlState: '42S02', statement: 'INSERT INTO missing_table' });
    expect(err.queryId).toMatch(/^[0-9a-f-]{36}$/);
    expect(err.message).toContain("Object 'MISSING_TABLE' does not exist");
    expect(err.message).not.toContain('SELECT * FROM staged');
    for (const s of secretTexts) expect(err.message).not.toContain(s);
    expect(userStatements(sessionId, from).map((s) => s.sqlText)).toEqual([
      'BEGIN TRANSACTION',
      'DELETE FROM raw.orders WHERE _window_start = :1',
      'INSERT INTO missing_table\nSELECT * FROM staged',
      'ROLLBACK',
    ]);
    // The session is still usable afterwards.
    expect(await wh.run('DELETE FROM after_rollback')).toBe(0);
  });

  test('an expired session token is renewed with the master token and the statement retried', async () => {
    const from = stand.requests.length;
    stand.expireSessionTokens();
    expect(await wh.run('DELETE FROM after_renewal')).toBe(0);
    const paths = stand.requests.slice(from).map((r) => `${r.method} ${r.path}`);
    expect(paths).toEqual([
      'POST /queries/v1/query-request',
      'POST /session/token-request',
      'POST /queries/v1/query-request',
    ]);
    expect(stand.statements.at(-1)?.sqlText).toBe('DELETE FROM after_renewal');
  });

  test('a long-running query is polled at its result URL until done', async () => {
    const from = stand.requests.length;
    stand.on(/FROM slow_view/, () => ({ columns: [{ name: 'N', type: 'NUMBER(38,0)' }], rows: [[5]], inProgress: 2 }));
    expect(await wh.query('SELECT count(*) AS n FROM slow_view')).toEqual([{ n: 5 }]);
    const paths = stand.requests.slice(from).map((r) => `${r.method} ${r.path.replace(/[0-9a-f-]{36}/, '<id>')}`);
    expect(paths).toEqual(['POST /queries/v1/query-request', 'GET /queries/<id>/result', 'GET /queries/<id>/result']);
  });
});

describe('session pool', () => {
  test('a quick activity runs on another session while a long statement holds the first; each activity keeps its session', async () => {
    const wh = await SnowflakeWarehouse.connect(jwtOptions({ sessions: 2 }), secrets);
    let release = () => {};
    let arrived = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const atServer = new Promise<void>((resolve) => (arrived = resolve));
    const offOne = stand.on(/^SELECT 1 AS one$/, () => ({
      columns: [{ name: 'ONE', type: 'NUMBER(1,0)' }],
      rows: [[1]],
    }));
    const off = stand.on(/^MERGE INTO big_mart/, async () => {
      arrived();
      await held;
      return { updated: 3 };
    });
    try {
      const heavy = wh.withQueryTag({ step: 'transform' });
      const quick = wh.withQueryTag({ step: 'audit' });
      await heavy.run('CREATE OR REPLACE TEMPORARY TABLE scratch_rows (id NUMBER)');
      const merge = heavy.run('MERGE INTO big_mart USING scratch_rows ON true WHEN MATCHED THEN DELETE');
      await atServer;
      // Completes while the MERGE is still held at the server: it did not queue behind it.
      expect(await quick.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      expect(await quick.run('DELETE FROM audit_rows')).toBe(0);
      expect(wh.openSessions).toBe(2);
      release();
      expect(await merge).toBe(3);
      await heavy.run('DROP TABLE IF EXISTS scratch_rows');
      const session = (text: string) => stand.statements.filter((s) => s.sqlText.startsWith(text)).at(-1)?.sessionId;
      // The temporary table, the MERGE reading it and the DROP share one session; the quick view has another.
      expect(
        new Set(
          [
            'CREATE OR REPLACE TEMPORARY TABLE scratch_rows',
            'MERGE INTO big_mart',
            'DROP TABLE IF EXISTS scratch_rows',
          ].map(session),
        ).size,
      ).toBe(1);
      expect(session('SELECT 1 AS one')).toBe(session('DELETE FROM audit_rows'));
      expect(session('SELECT 1 AS one')).not.toBe(session('MERGE INTO big_mart'));
    } finally {
      release();
      off();
      offOne();
      await wh.close();
    }
  });

  test('sessions must be a whole number ≥ 1', async () => {
    await expect(SnowflakeWarehouse.connect(jwtOptions({ sessions: 0 }), secrets)).rejects.toThrow(
      /sessions must be a whole number ≥ 1, not 0/,
    );
  });
});

describe('hygiene', () => {
  test('every request after login carried a valid session token (but the one deliberately expired)', () => {
    const notLogin = stand.requests.filter((r) => r.path !== '/session/v1/login-request');
    expect(notLogin.length).toBeGreaterThan(10);
    expect(notLogin.filter((r) => !r.authorized).map((r) => r.code)).toEqual(['390112']);
  });

  test('the driver used exactly these endpoints', () => {
    const endpoints = new Set(stand.requests.map((r) => `${r.method} ${r.path.replace(/[0-9a-f-]{36}/, '<id>')}`));
    expect([...endpoints].sort()).toEqual([
      'GET /queries/<id>/result',
      'POST /queries/v1/query-request',
      'POST /session',
      'POST /session/token-request',
      'POST /session/v1/login-request',
      'POST /telemetry/send',
    ]);
    expect(stand.requests.filter((r) => r.path === '/session').every((r) => r.query.delete === 'true')).toBe(true);
  });

  test('secrets appear only in password login bodies, never in other requests or any output', () => {
    for (const r of stand.requests) {
      const text = `${r.path} ${JSON.stringify(r.query)} ${r.body}`;
      const passwordLogin = r.path === '/session/v1/login-request' && text.includes('"AUTHENTICATOR":"SNOWFLAKE"');
      for (const s of secretTexts) {
        if (s === PASSWORD && passwordLogin) continue;
        expect({ request: `${r.method} ${r.path}`, leaked: text.includes(s) }).toEqual({
          request: `${r.method} ${r.path}`,
          leaked: false,
        });
      }
    }
    // The search does see request bodies: the password login carried the password.
    expect(stand.requests.some((r) => r.path === '/session/v1/login-request' && r.body.includes(PASSWORD))).toBe(true);
    const printed = output.join('');
    for (const s of secretTexts) expect(printed.includes(s)).toBe(false);
  });

  test('the driver wrote no snowflake.log into the working directory', () => {
    expect(logExistedBefore).toBe(false);
    expect(existsSync(join(process.cwd(), 'snowflake.log'))).toBe(false);
  });
});
