import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

let installed = false;

/** Installs the Temporal runtime once per process with a quieter logger (SDK INFO lines drown the demo). */
export function installRuntime(level: LogLevel = (process.env.FRESHLINE_SDK_LOG_LEVEL as LogLevel) ?? 'WARN'): void {
  if (installed) return;
  Runtime.install({ logger: new DefaultLogger(level) });
  installed = true;
}
