import pino from 'pino';

/**
 * Process logger (JSON lines on stderr, so the demo's report on stdout stays readable). Anything that
 * could carry a credential is redacted by key, wherever it sits in a log record.
 */
export const logger = pino(
  {
    level: process.env.FRESHLINE_LOG_LEVEL ?? 'info',
    base: { service: 'freshline' },
    redact: {
      paths: [
        'url',
        'password',
        'secret',
        'piiKey',
        'connectionString',
        '*.url',
        '*.password',
        '*.secret',
        '*.piiKey',
        '*.connectionString',
      ],
      censor: '[redacted]',
    },
  },
  pino.destination(2),
);
