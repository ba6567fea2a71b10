import { parseDuration } from '../config/duration';

/** A change window [start, end), ISO instants. */
export interface Window {
  start: string;
  end: string;
}

/** A range asking for more windows than this is refused (ask for a shorter one). */
const MAX_WINDOWS = 50_000;

/**
 * The windows of a cadence lying entirely inside [from, to), oldest first, aligned like the schedule's
 * firings (`floor(t / cadence) * cadence` from the epoch, as scheduledWindow derives them). A window's
 * nominal fire time is its end.
 */
export function cadenceWindows(cadence: string, from: Date | string, to: Date | string): Window[] {
  const c = parseDuration(cadence);
  const fromMs = new Date(from).getTime();
  const toMs = new Date(to).getTime();
  if (Number.isNaN(fromMs) || Number.isNaN(toMs)) throw new Error(`invalid range ${String(from)} → ${String(to)}`);
  const first = Math.ceil(fromMs / c) * c;
  const n = Math.max(0, Math.floor((toMs - first) / c));
  if (n > MAX_WINDOWS)
    throw new Error(
      `${n} windows of ${cadence} between ${String(from)} and ${String(to)}: ask for at most ${MAX_WINDOWS}`,
    );
  return Array.from({ length: n }, (_, i) => ({
    start: new Date(first + i * c).toISOString(),
    end: new Date(first + (i + 1) * c).toISOString(),
  }));
}
