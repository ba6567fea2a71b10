import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';
import type { Logger } from 'pino';
import { logger } from './logger';

let installed = false;

const toPino: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** The SDK's logger, writing through `target` (pino: its err serializer handles the SDK's `error` key). */
export function sdkLogger(level: LogLevel, target: Logger = logger): DefaultLogger {
  const sdk = target.child({ component: 'temporal' });
  return new DefaultLogger(level, (entry: LogEntry) => sdk[toPino[entry.level]]({ ...entry.meta }, entry.message));
}

/**
 * Installs the Temporal runtime once per process, sending SDK logs (worker, workflow and activity
 * loggers) through pino (`target`, default the process logger). Default WARN: the SDK's INFO lines drown
 * the demo's report.
 */
export function installRuntime(
  level: LogLevel = (process.env.FRESHLINE_SDK_LOG_LEVEL as LogLevel) ?? 'WARN',
  target: Logger = logger,
): void {
  if (installed) return;
  Runtime.install({ logger: sdkLogger(level, target) });
  installed = true;
}
