import { existsSync, readFileSync } from 'node:fs';

/** Where credentials and keys come from; values never go to logs or Temporal payloads. */
export interface SecretStore {
  /** Returns the secret or throws an error naming it (never its value). */
  get(name: string): Promise<string>;
  /**
   * Optional: forgets any cached value of `name` so the next get reads the current version; callers use
   * it after an auth failure that may mean the credential was rotated. Stores without a cache omit it.
   */
  refresh?(name: string): Promise<void>;
}

/** Reads secrets from the environment, then from a KEY=VALUE file (e.g. .dev/secrets.env). */
export class EnvSecretStore implements SecretStore {
  private readonly fileValues: Record<string, string>;
  private readonly fileExists: boolean;

  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    /** Optional dotenv-style file consulted after the environment. */
    readonly file?: string,
  ) {
    this.fileExists = !!file && existsSync(file);
    this.fileValues = file && this.fileExists ? parseDotenv(readFileSync(file, 'utf8')) : {};
  }

  async get(name: string): Promise<string> {
    const value = this.env[name] ?? this.fileValues[name];
    if (!value) {
      // Where it looked, so the fix is obvious (never a value).
      const file = !this.file ? '' : this.fileExists ? `, nor in ${this.file}` : `, and ${this.file} does not exist`;
      throw new Error(`secret '${name}' is not set: no environment variable ${name}${file}`);
    }
    return value;
  }
}

function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) out[m[1]] = m[2].replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}
