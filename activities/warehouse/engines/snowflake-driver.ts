import type * as SnowflakeSdk from 'snowflake-sdk';

/** The snowflake-sdk module, as its own type declarations describe it. */
export type Sdk = typeof SnowflakeSdk;

let loaded: Sdk | undefined;

const silent: SnowflakeSdk.SnowflakeLogger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
  trace: () => undefined,
};

/**
 * Loads and configures snowflake-sdk once per process, on first use (DuckDB-only runs never load it).
 *
 * Why each setting:
 * - Left alone, the driver logs at INFO to `snowflake.log` in the current directory and to the console
 *   from its first message (creating a connection is one). A custom logger replaces winston entirely, so
 *   no file is opened; level OFF means not even that logger is called. Freshline reports failures through
 *   its own errors (code, SQLSTATE, query id), which never contain credentials.
 * - Importing the driver starts cloud platform detection for its login telemetry: HTTP probes of the
 *   AWS/Azure/GCP metadata endpoints and an AWS STS GetCallerIdentity call with whatever AWS credentials
 *   the worker holds. SNOWFLAKE_DISABLE_PLATFORM_DETECTION turns that off; it must be set before the
 *   module loads, hence the lazy require. An operator's explicit value is respected.
 * - Easy logging (an `sf_client_config.json` an operator places in the home or driver directory, or
 *   SF_CLIENT_CONFIG_FILE) can still turn driver logs on, into `<log_path>/nodejs/`, never the cwd; that
 *   is a deliberate operator action and is left working.
 */
export function snowflakeSdk(): Sdk {
  if (loaded) return loaded;
  process.env.SNOWFLAKE_DISABLE_PLATFORM_DETECTION ??= 'true';
  // A runtime require (not an import) so the environment above is in place before the module's top level runs.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above: the import must wait for the environment
  const sdk = require('snowflake-sdk') as Sdk;
  sdk.configure({ logLevel: 'OFF', additionalLogToConsole: false, customLogger: silent });
  loaded = sdk;
  return sdk;
}
