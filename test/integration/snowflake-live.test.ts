import { readFileSync } from 'node:fs';
import { EnvSecretStore } from '../../activities/secrets/secret-store';
import { SnowflakeWarehouse, type SnowflakeWarehouseOptions } from '../../activities/warehouse/engines/snowflake';

/**
 * Against a real Snowflake account, only when SNOWFLAKE_ACCOUNT is set. Uses SNOWFLAKE_USER and either
 * SNOWFLAKE_PRIVATE_KEY_PATH (+ optional SNOWFLAKE_PRIVATE_KEY_PASSPHRASE) or SNOWFLAKE_PASSWORD; optional
 * SNOWFLAKE_ROLE, SNOWFLAKE_WAREHOUSE, SNOWFLAKE_DATABASE, SNOWFLAKE_SCHEMA. Read-only: SELECT and SHOW.
 */

const env = process.env;

if (!env.SNOWFLAKE_ACCOUNT) {
  console.log('skipped: SNOWFLAKE_ACCOUNT not set');
  test.skip('skipped: SNOWFLAKE_ACCOUNT not set', () => undefined);
} else {
  describe('live Snowflake', () => {
    let wh: SnowflakeWarehouse;
    const runId = `live-${Date.now()}`;

    beforeAll(async () => {
      const keyPath = env.SNOWFLAKE_PRIVATE_KEY_PATH;
      // Secrets go through a SecretStore as in production; the key file's content becomes a secret value.
      const secrets = new EnvSecretStore({
        SNOWFLAKE_PRIVATE_KEY: keyPath ? readFileSync(keyPath, 'utf8') : undefined,
        SNOWFLAKE_PRIVATE_KEY_PASSPHRASE: env.SNOWFLAKE_PRIVATE_KEY_PASSPHRASE,
        SNOWFLAKE_PASSWORD: env.SNOWFLAKE_PASSWORD,
      });
      const auth: Pick<
        SnowflakeWarehouseOptions,
        'authenticator' | 'privateKeySecret' | 'privateKeyPassphraseSecret' | 'passwordSecret'
      > = keyPath
        ? {
            authenticator: 'SNOWFLAKE_JWT',
            privateKeySecret: 'SNOWFLAKE_PRIVATE_KEY',
            privateKeyPassphraseSecret: env.SNOWFLAKE_PRIVATE_KEY_PASSPHRASE
              ? 'SNOWFLAKE_PRIVATE_KEY_PASSPHRASE'
              : undefined,
          }
        : { authenticator: 'SNOWFLAKE', passwordSecret: 'SNOWFLAKE_PASSWORD' };
      wh = await SnowflakeWarehouse.connect(
        {
          account: env.SNOWFLAKE_ACCOUNT as string,
          username: env.SNOWFLAKE_USER ?? '',
          role: env.SNOWFLAKE_ROLE,
          warehouse: env.SNOWFLAKE_WAREHOUSE,
          database: env.SNOWFLAKE_DATABASE,
          schema: env.SNOWFLAKE_SCHEMA,
          ...auth,
          queryTag: { app: 'freshline', test: 'snowflake-live' },
          statementTimeoutSeconds: 300,
        },
        secrets,
      );
    });

    afterAll(async () => {
      await wh?.close();
    });

    test('SELECT 1', async () => {
      expect(await wh.query('SELECT 1 AS one, 1.50::NUMBER(10,2) AS amount, $1 AS echoed', ['bound'])).toEqual([
        { one: 1, amount: '1.50', echoed: 'bound' },
      ]);
    });

    test('a tagged statement runs under the tag', async () => {
      const tagged = wh.withQueryTag({ runId });
      const rows = await tagged.query("SHOW PARAMETERS LIKE 'QUERY_TAG' IN SESSION");
      expect(rows[0]?.value).toBe(JSON.stringify({ app: 'freshline', test: 'snowflake-live', runId }));
      expect(await tagged.query('SELECT CURRENT_SESSION() IS NOT NULL AS ok')).toEqual([{ ok: true }]);
    });
  });
}
