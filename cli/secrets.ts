import { resolve } from 'node:path';
import type { SecretStore } from '../activities/secrets/secret-store';
import { loadConfig } from '../config/load';
import { openSecretStore } from '../workers/adapters';

/** The secret store CLI commands read, as the worker does: config `secrets` (default: environment, then `<dataDir>/secrets.env`). */
export function cliSecretStore(dataDir = process.env.FRESHLINE_DATA_DIR ?? '.dev/data'): SecretStore {
  return openSecretStore(loadConfig().secrets, resolve(dataDir));
}
