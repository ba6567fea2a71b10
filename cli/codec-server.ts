import type { SecretStore } from '../activities/secrets/secret-store';
import { PayloadEncryptionCodec } from '../codec/payload-codec';
import { CODEC_SERVER_TOKEN_SECRET, startCodecServer, type CodecServer } from '../codec/server';
import { cliSecretStore } from './secrets';

/** Web UI origins allowed by default: the Temporal dev server's UI (`temporal server start-dev`, port 8233). */
export const DEFAULT_UI_ORIGINS = ['http://localhost:8233', 'http://127.0.0.1:8233'];

/** Options of `freshline codec-server`. */
export interface CodecServerCommandOptions {
  port: number;
  host: string;
  /** Browser origins allowed to call (the Temporal Web UI's). */
  uiOrigin?: string[];
  /** Namespaces served (X-Namespace); absent: any. */
  namespace?: string[];
  /** Secret store holding FRESHLINE_PAYLOAD_KEYS and FRESHLINE_CODEC_SERVER_TOKEN (default: the worker's). */
  secrets?: SecretStore;
  /** Where refused or failed requests are reported (default stderr). */
  log?: (msg: string) => void;
}

/** Starts the codec server with the keys and the bearer token from the secret store; fails naming a missing secret. */
export async function startCodecServerFromSecrets(opts: CodecServerCommandOptions): Promise<CodecServer> {
  const secrets = opts.secrets ?? cliSecretStore();
  const token = await secrets.get(CODEC_SERVER_TOKEN_SECRET).catch((err: Error) => {
    throw new Error(
      `the codec server needs a bearer token in secret '${CODEC_SERVER_TOKEN_SECRET}' (at least 16 characters, e.g. openssl rand -hex 32): ${err.message}`,
    );
  });
  const codec = await PayloadEncryptionCodec.fromSecrets(secrets);
  return startCodecServer({
    codec,
    token,
    host: opts.host,
    port: opts.port,
    allowedOrigins: opts.uiOrigin?.length ? opts.uiOrigin : DEFAULT_UI_ORIGINS,
    namespaces: opts.namespace?.length ? opts.namespace : undefined,
    log: opts.log ?? ((msg) => void process.stderr.write(`${msg}\n`)),
  });
}

/** `freshline codec-server`: serves /decode and /encode until SIGINT/SIGTERM. */
export async function codecServerCommand(
  opts: CodecServerCommandOptions,
  out: (s: string) => void = (s) => void process.stdout.write(`${s}\n`),
): Promise<void> {
  const server = await startCodecServerFromSecrets(opts);
  out(
    `codec server on ${server.url} (POST /decode, /encode; Authorization: Bearer <${CODEC_SERVER_TOKEN_SECRET}>; ` +
      `CORS: ${(opts.uiOrigin?.length ? opts.uiOrigin : DEFAULT_UI_ORIGINS).join(', ')})`,
  );
  out(
    `  temporal workflow show --workflow-id <id> --codec-endpoint ${server.url} --codec-auth "Bearer $${CODEC_SERVER_TOKEN_SECRET}"`,
  );
  await new Promise<void>((resolveStop) => {
    process.once('SIGINT', resolveStop);
    process.once('SIGTERM', resolveStop);
  });
  await server.close();
}
