import { z } from 'zod';
import { isDuration } from '../duration';

// Identifiers end up quoted in SQL; restricting them here keeps every name a data engineer can type
// readable in the warehouse and rules out anything that could smuggle SQL through config.
export const identifier = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a lower-case SQL identifier (a-z, 0-9, _)');
export const duration = z.string().refine(isDuration, 'must be a duration such as 30s, 15m, 4h or 7d');
export const severity = z.enum(['warn', 'error', 'critical']);

export type Severity = z.infer<typeof severity>;

/** Loopback hosts (URL.hostname form), where plain http is allowed: a local stand-in or an SSH tunnel. */
export function isLoopbackHost(hostname: string): boolean {
  return /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(hostname);
}
