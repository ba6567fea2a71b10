import { TemporalFailure } from '@temporalio/common';
import type { SecretStore } from '../../secrets/secret-store';

/**
 * The source connection string is a secret (it carries the password): errors leave the extract and CDC paths
 * through `sourceError` (URL and password cut out, the secret named), and the secret's form is checked when
 * it is read (`readSourceUrl`), before anything parses it.
 */

/** Reads a source's connection URL from its secret and checks its form (see `checkSourceUrl`). */
export async function readSourceUrl(secrets: SecretStore, secretName: string): Promise<string> {
  return checkSourceUrl(await secrets.get(secretName), secretName);
}

/**
 * Accepts only postgres:// or postgresql:// URLs. A libpq keyword string (`host=x password=y dbname=z`) is
 * refused: node-postgres would read it as a URL relative to host "base", with the whole string (password
 * included) as the database name — which then appears in "database … does not exist". Messages name the
 * secret, never its value.
 */
export function checkSourceUrl(value: string, secretName: string): string {
  const example = 'postgresql://user:password@host:5432/database';
  if (!/^postgres(ql)?:\/\//i.test(value.trim())) {
    const keywords = /^\s*[a-z_]+\s*=/i.test(value);
    throw new Error(
      `secret '${secretName}' must be a postgres:// or postgresql:// URL such as ${example}` +
        (keywords ? ' (it holds a key=value connection string, which is not supported)' : ''),
    );
  }
  try {
    new URL(value.trim());
  } catch {
    throw new Error(
      `secret '${secretName}' is not a valid postgresql:// URL (percent-encode special characters of the user and password, e.g. @ as %40): expected ${example}`,
    );
  }
  return value.trim();
}

/** SQLSTATEs and socket errors that mean "could not get a session" (so the message names the secret). */
const CONNECT_CODES =
  /^(08|28|3D000$|57P03$|53300$|E(CONNREFUSED|CONNRESET|NOTFOUND|AI_AGAIN|TIMEDOUT|HOSTUNREACH|NETUNREACH)$)/;

/**
 * An error safe to leave the source path: its message with the connection URL and its password (as written
 * and decoded) replaced by `***`, its SQLSTATE `code` kept, no other property (pg errors and Node's URL errors
 * carry the input, e.g. `input`, which loggers serialize) and no cause. A connection failure (or any error
 * when `connecting`) is prefixed with the secret's name, so the operator knows which credential to check.
 * A Temporal failure (cancellation, an ApplicationFailure a hook threw) keeps its class: only its message is scrubbed.
 */
export function sourceError(
  err: unknown,
  url: string,
  where?: { secret: string; source?: string; connecting?: boolean },
): Error {
  if (err instanceof TemporalFailure) {
    err.message = scrub(err.message, url);
    return err;
  }
  // Duck-typed: errors from Node internals may come from another realm (jest's vm), where instanceof fails.
  const error: Error & { errors?: unknown } =
    err !== null && typeof err === 'object' && typeof (err as Error).message === 'string'
      ? (err as Error)
      : new Error(String(err));
  const code = (error as { code?: unknown }).code;
  const inner: unknown[] = Array.isArray(error.errors) ? (error.errors as unknown[]) : [];
  // Node's multi-address connect failure is an AggregateError with an empty message: say what its parts say.
  let message =
    error.message ||
    inner.map((e) => String((e as Error | null)?.message ?? e)).join('; ') ||
    error.name ||
    'unknown error';
  message = scrub(message, url);
  const innerCode = inner.map((e) => (e as { code?: unknown }).code).find((c) => typeof c === 'string');
  const codeText = typeof code === 'string' ? code : typeof innerCode === 'string' ? innerCode : undefined;
  const prefix = where
    ? `cannot connect to ${where.source ? `source '${where.source}' ` : 'the source '}(secret ${where.secret}): `
    : '';
  if (where && !message.startsWith('cannot connect to ') && (where.connecting || CONNECT_CODES.test(codeText ?? '')))
    message = prefix + message;
  const clean = new Error(message);
  if (/^\w+$/.test(error.name) && error.name !== 'AggregateError') clean.name = error.name;
  if (codeText) (clean as { code?: string }).code = codeText;
  // Keep where it was thrown (frames are file paths, never the message).
  const frames = (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
  clean.stack = `${clean.name}: ${message}\n${frames.join('\n')}`;
  return clean;
}

/** `text` with the URL and its password (as written and percent-decoded) replaced by `***`. */
export function scrub(text: string, url: string): string {
  const secrets = [url, url.trim()];
  try {
    const password = new URL(url.trim()).password;
    if (password) {
      secrets.push(password);
      try {
        secrets.push(decodeURIComponent(password));
      } catch {
        // a malformed escape: the raw form is cut out already
      }
    }
  } catch {
    // Not a URL (a libpq key=value string): the whole string is still cut out, and its password= value.
    const m = /(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/i.exec(url);
    if (m) secrets.push(m[1], m[1].replace(/^'|'$/g, ''));
  }
  let out = text;
  // Longest first, so the URL goes before the password inside it.
  for (const secret of [...new Set(secrets)].sort((a, b) => b.length - a.length))
    if (secret) out = out.split(secret).join('***');
  return out;
}
