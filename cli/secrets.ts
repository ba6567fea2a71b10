import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EnvSecretStore, type SecretStore } from '../activities/secrets/secret-store';
import { loadConfig } from '../config/load';
import { openSecretStore } from '../workers/adapters';

/** Environment variable naming the data dir of the stack the CLI talks to (the worker reads the same one). */
export const DATA_DIR_ENV = 'FRESHLINE_DATA_DIR';

/**
 * Data dirs a local stack keeps its `secrets.env` in, in the order the CLI tries them when FRESHLINE_DATA_DIR is
 * unset: the worker's default (`npm run worker`: `.dev/data`), then the demo's (`npm run demo`: `.dev/demo/data`).
 */
export const LOCAL_DATA_DIRS = [join('.dev', 'data'), join('.dev', 'demo', 'data')];

/** The data dir the CLI uses and how it was chosen. */
export interface CliDataDir {
  dataDir: string;
  /** `FRESHLINE_DATA_DIR`, `found` (the first local data dir holding a secrets.env), or `default`. */
  source: 'env' | 'found' | 'default';
  /** Every secrets.env considered (absolute). */
  looked: string[];
}

/**
 * Finds the running stack's data dir the way its processes set it: `$FRESHLINE_DATA_DIR` when set (the worker's
 * variable); else the first of {@link LOCAL_DATA_DIRS} under `cwd` holding a `secrets.env` — the worker's
 * default and the demo's, which writes its keys there; else the worker's default.
 */
export function cliDataDir(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): CliDataDir {
  const set = env[DATA_DIR_ENV];
  if (set) {
    const dataDir = resolve(cwd, set);
    return { dataDir, source: 'env', looked: [join(dataDir, 'secrets.env')] };
  }
  const dirs = LOCAL_DATA_DIRS.map((d) => resolve(cwd, d));
  const looked = dirs.map((d) => join(d, 'secrets.env'));
  const found = dirs.find((d) => existsSync(join(d, 'secrets.env')));
  return found ? { dataDir: found, source: 'found', looked } : { dataDir: dirs[0], source: 'default', looked };
}

/**
 * The secret store CLI commands read, as the worker does: config `secrets` (default: environment, then
 * `<dataDir>/secrets.env`, the data dir from {@link cliDataDir}). A missing secret's error says where it looked
 * and which variables fix it.
 */
export function cliSecretStore(dir: CliDataDir = cliDataDir(), env: NodeJS.ProcessEnv = process.env): SecretStore {
  const config = loadConfig().secrets;
  if (config.type === 'aws') return openSecretStore(config, dir.dataDir);
  const store = new EnvSecretStore(env, join(dir.dataDir, 'secrets.env'));
  return {
    async get(name) {
      try {
        return await store.get(name);
      } catch (err) {
        const how =
          dir.source === 'env'
            ? `${DATA_DIR_ENV}=${env[DATA_DIR_ENV]} points at ${dir.dataDir}`
            : dir.source === 'found'
              ? `${DATA_DIR_ENV} is unset; found ${join(dir.dataDir, 'secrets.env')}`
              : `${DATA_DIR_ENV} is unset and no local stack's secrets.env exists (looked for ${dir.looked.join(', ')})`;
        throw new Error(
          `${(err as Error).message} (${how}); set ${name} in the environment, or ${DATA_DIR_ENV} to the data dir ` +
            `of the running stack (the worker's ${DATA_DIR_ENV}, default .dev/data; the demo's .dev/demo/data), ` +
            `whose secrets.env holds it`,
          { cause: err },
        );
      }
    },
  };
}
