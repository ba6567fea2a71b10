import pino from 'pino';

/**
 * Keys redacted wherever they sit in a log record (top level, or one level down: `error.url`, `meta.password`),
 * since they could carry a credential.
 */
const REDACT_PATHS = ['url', 'password', 'secret', 'piiKey', 'connectionString', 'input'].flatMap((k) => [k, `*.${k}`]);

/**
 * Errors as pino's err serializer writes them (type, message with causes, stack, own fields), under `err` and
 * under `error`: the Temporal SDK logs "Activity failed" with `{ error }`, and an Error serialised as plain JSON
 * is `{}` (message and stack are not enumerable). Serialised fields are then redacted like any others.
 */
const serializers = { err: pino.stdSerializers.err, error: pino.stdSerializers.err };

/** Options of every Freshline logger; tests give `createLogger` their own destination. */
export function createLogger(destination: pino.DestinationStream = pino.destination(2)): pino.Logger {
  return pino(
    {
      level: process.env.FRESHLINE_LOG_LEVEL ?? 'info',
      base: { service: 'freshline' },
      serializers,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}

/** Process logger (JSON lines on stderr, so the demo's report on stdout stays readable). */
export const logger = createLogger();
