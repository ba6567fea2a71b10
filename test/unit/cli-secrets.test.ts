import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { newPayloadKeys, PAYLOAD_KEYS_SECRET } from '../../codec/keys';
import { PayloadEncryptionCodec } from '../../codec/payload-codec';
import { cliDataDir, cliSecretStore } from '../../cli/secrets';

// How `freshline dq …` / `schedules …` find the running stack's payload keys without FRESHLINE_DATA_DIR.

const ROOT = resolve(__dirname, '../..');
let cwd: string;
beforeEach(() => {
  cwd = mkdtempSync(join(tmpdir(), 'freshline-cli-secrets-'));
});
afterEach(() => rmSync(cwd, { recursive: true, force: true }));

const writeSecrets = (dir: string, text: string) => {
  mkdirSync(join(cwd, dir), { recursive: true });
  writeFileSync(join(cwd, dir, 'secrets.env'), text);
};

test('discovery: FRESHLINE_DATA_DIR when set; else the worker default .dev/data, else the demo .dev/demo/data', async () => {
  expect(cliDataDir({}, cwd)).toMatchObject({ dataDir: join(cwd, '.dev/data'), source: 'default' });

  const demoKeys = newPayloadKeys('demo');
  writeSecrets('.dev/demo/data', `${PAYLOAD_KEYS_SECRET}=${demoKeys}\n`);
  const demo = cliDataDir({}, cwd);
  expect(demo).toMatchObject({ dataDir: join(cwd, '.dev/demo/data'), source: 'found' });
  // The keys a running demo wrote are the CLI's, with no variable set.
  expect(await cliSecretStore(demo, {}).get(PAYLOAD_KEYS_SECRET)).toBe(demoKeys);
  expect((await PayloadEncryptionCodec.fromSecrets(cliSecretStore(demo, {}))).currentKeyId).toBe('demo');

  writeSecrets('.dev/data', `${PAYLOAD_KEYS_SECRET}=${newPayloadKeys('worker')}\n`);
  expect(cliDataDir({}, cwd)).toMatchObject({ dataDir: join(cwd, '.dev/data'), source: 'found' });

  expect(cliDataDir({ FRESHLINE_DATA_DIR: 'elsewhere' }, cwd)).toMatchObject({
    dataDir: join(cwd, 'elsewhere'),
    source: 'env',
  });
  // The environment still wins over the file, as in the worker.
  const env = { [PAYLOAD_KEYS_SECRET]: 'k9:env' };
  expect(await cliSecretStore(cliDataDir({}, cwd), env).get(PAYLOAD_KEYS_SECRET)).toBe('k9:env');
});

test('a missing key names FRESHLINE_PAYLOAD_KEYS, FRESHLINE_DATA_DIR and the secrets.env files it looked in', async () => {
  const err = await PayloadEncryptionCodec.fromSecrets(cliSecretStore(cliDataDir({}, cwd), {})).catch((e: Error) => e);
  expect(err).toBeInstanceOf(Error);
  const msg = (err as Error).message;
  expect(msg).toMatch(/^payload encryption needs secret 'FRESHLINE_PAYLOAD_KEYS'/);
  expect(msg).toContain('no environment variable FRESHLINE_PAYLOAD_KEYS');
  expect(msg).toContain(`${join(cwd, '.dev/data/secrets.env')} does not exist`);
  expect(msg).toContain(join(cwd, '.dev/demo/data/secrets.env'));
  expect(msg).toMatch(
    /set FRESHLINE_PAYLOAD_KEYS in the environment, or FRESHLINE_DATA_DIR to the data dir of the running stack/,
  );

  // FRESHLINE_DATA_DIR set to a dir whose file lacks the key: says so, and which file.
  writeSecrets('mine', 'SHOP_DB_URL=postgresql://x\n');
  const msg2 = await cliSecretStore(cliDataDir({ FRESHLINE_DATA_DIR: 'mine' }, cwd), { FRESHLINE_DATA_DIR: 'mine' })
    .get(PAYLOAD_KEYS_SECRET)
    .catch((e: Error) => e.message);
  expect(msg2).toContain(`nor in ${join(cwd, 'mine/secrets.env')}`);
  expect(msg2).toContain(`FRESHLINE_DATA_DIR=mine points at ${join(cwd, 'mine')}`);
});

test('the real command: `freshline dq report` outside a stack exits 1 with that message, before connecting', () => {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    FRESHLINE_CONFIG: join(ROOT, 'config/pipeline.yaml'),
  };
  const r = spawnSync(
    join(ROOT, 'node_modules/.bin/tsx'),
    [join(ROOT, 'cli/main.ts'), 'dq', 'report', '--address', '127.0.0.1:1'],
    {
      cwd,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/payload encryption needs secret 'FRESHLINE_PAYLOAD_KEYS'/);
  expect(r.stderr).toContain('FRESHLINE_DATA_DIR');
  expect(r.stderr).toContain(join(cwd, '.dev/data/secrets.env'));
});
