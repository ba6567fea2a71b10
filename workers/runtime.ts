import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';
import { logger } from './logger';

let installed = false;

const toPino: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * Installs the Temporal runtime once per process, sending SDK logs (worker, workflow and activity
 * loggers) through pino. Default WARN: the SDK's INFO lines drown the demo's report.
 */
export function installRuntime(level: LogLevel = (process.env.FRESHLINE_SDK_LOG_LEVEL as LogLevel) ?? 'WARN'): void {
  if (installed) return;
  const sdk = logger.child({ component: 'temporal' });
  Runtime.install({
    logger: new DefaultLogger(level, (entry: LogEntry) => sdk[toPino[entry.level]]({ ...entry.meta }, entry.message)),
  });
  installed = true;
}
