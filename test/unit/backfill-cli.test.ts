import { PassThrough } from 'node:stream';
import { progressLine, progressText, stdoutOutput } from '../../cli/backfill';
import type { BackfillProgress } from '../../workflows/backfill-messages';
import { backfillWorkflowId } from '../../workflows/ids';

const progress = (over: Partial<BackfillProgress> = {}): BackfillProgress => ({
  dataset: 'sales_core',
  from: '2026-08-01T00:00:00Z',
  to: '2026-11-01T00:00:00Z',
  total: 92,
  done: 40,
  failed: 1,
  skipped: 3,
  joined: 2,
  running: 4,
  blocked: 1,
  etaSeconds: 1234,
  publish: 'pending',
  continuedAsNew: 0,
  failures: [],
  ...over,
});

describe('backfill progress line', () => {
  const cases = [
    progress(),
    progress({ done: 0, failed: 0, skipped: 0, running: 0, blocked: 0, etaSeconds: null }),
    progress({ done: 92, failed: 0, skipped: 0, running: 0, blocked: 0, etaSeconds: 0, publish: 'succeeded' }),
    progress({ publish: 'failed: gate blocked for 24h, certified tables unchanged (sales_core/backfill/…/publish)' }),
    progress({ total: 2160, done: 1999, skipped: 100, joined: 120, running: 16, blocked: 12, etaSeconds: 86_400 }),
  ];

  test.each([80, 200, 40, 20])(
    'at %i columns the line is never wider than the terminal (minus the last column)',
    (cols) => {
      for (const p of cases) {
        const line = progressLine(p, cols);
        expect(line.length).toBeLessThanOrEqual(cols - 1);
        expect(line).not.toContain('\n');
      }
    },
  );

  test('at 80 columns: a bar and the counts that matter; detail is dropped, not wrapped', () => {
    const line = progressLine(progress(), 80);
    expect(line).toBe('[#####......] 44/92, 4 running (1 blocked), 1 failed, ETA 21m; publish: pending');
    expect(line.length).toBeLessThanOrEqual(79);
  });

  test('at 200 columns: every count and a 40-cell bar', () => {
    const line = progressLine(progress(), 200);
    expect(line).toBe(`[${'#'.repeat(19)}${'.'.repeat(21)}] ${progressText(progress())}`);
    expect(progressText(progress())).toBe(
      '44/92 (40 done, 3 skipped, 2 joined), 4 running (1 blocked), 1 failed, ETA 21m; publish: pending',
    );
  });

  test('the bar fills with finished partitions', () => {
    const done = progressLine(progress({ done: 92, failed: 0, skipped: 0, running: 0, blocked: 0 }), 200);
    expect(done.startsWith(`[${'#'.repeat(40)}]`)).toBe(true);
    const none = progressLine(progress({ done: 0, failed: 0, skipped: 0 }), 200);
    expect(none.startsWith(`[${'.'.repeat(40)}]`)).toBe(true);
  });
});

describe('backfill output', () => {
  function capture(isTTY: boolean, columns?: number) {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
    let text = '';
    stream.on('data', (c: Buffer) => (text += c.toString()));
    Object.assign(stream, { isTTY, columns, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
    return { stream, text: () => text };
  }

  test('not a TTY: plain lines (no bar, no carriage returns), the last state always shown, ending in a newline', () => {
    const { stream, text } = capture(false);
    const out = stdoutOutput(stream, 60_000);
    out.line('backfill sales_core/backfill/2026-08-01--2026-11-01');
    out.progress(progress({ done: 1 }));
    out.progress(progress({ done: 2 })); // within plainEveryMs: held back …
    out.end(); // … and shown at the end
    out.line('backfill complete');
    const lines = text().split('\n');
    expect(lines).toEqual([
      'backfill sales_core/backfill/2026-08-01--2026-11-01',
      progressText(progress({ done: 1 })),
      progressText(progress({ done: 2 })),
      'backfill complete',
      '',
    ]);
    expect(text()).not.toContain('\r');
    expect(text()).not.toContain('\u001b'); // no escape code
  });

  test('a TTY of 80 columns: the bar redraws in place, every drawn line fits, and the bar ends with a newline', () => {
    const { stream, text } = capture(true, 80);
    const out = stdoutOutput(stream);
    out.progress(progress({ done: 1 }));
    out.progress(progress({ done: 50 }));
    out.end();
    out.line('backfill complete');
    // A cursor-to-column escape starts a redraw (like \r); other control sequences show nothing.
    const shown = text()
      // eslint-disable-next-line no-control-regex
      .replace(/\x1b\[\d*G/g, '\r')
      // eslint-disable-next-line no-control-regex
      .replace(/\x1b(\[[0-9;?]*[A-Za-z]|[78])/g, '');
    const drawn = shown.split(/[\r\n]/).filter(Boolean);
    expect(drawn.length).toBeGreaterThan(0);
    for (const l of drawn) expect(l.length).toBeLessThanOrEqual(79);
    expect(shown).toMatch(/\[#+\.*\] 54\/92.*\nbackfill complete\n$/);
  });
});

describe('canonical backfill id', () => {
  test('the README form, whatever the spelling of the same instants', () => {
    for (const [from, to] of [
      ['2026-08-01T00:00:00Z', '2026-11-01T00:00:00Z'],
      ['2026-08-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z'],
      ['2026-08-01T02:00:00+02:00', '2026-11-01T00:00:00Z'],
      ['2026-08-01T05:30:00Z', '2026-10-31T23:00:00Z'], // the same day partitions
    ])
      expect(backfillWorkflowId('sales_core', from, to)).toBe('sales_core/backfill/2026-08-01--2026-11-01');
  });

  test('hour partitions carry the hour; other ranges or datasets differ', () => {
    expect(backfillWorkflowId('sales_core', '2026-08-01T05:10:00Z', '2026-08-01T09:00:00.000Z', 'hour')).toBe(
      'sales_core/backfill/2026-08-01T05:00Z--2026-08-01T09:00Z',
    );
    expect(backfillWorkflowId('sales_core', '2026-08-01T00:00:00Z', '2026-08-02T00:00:00Z', 'hour')).not.toBe(
      backfillWorkflowId('sales_core', '2026-08-01T00:00:00Z', '2026-08-02T00:00:00Z', 'day'),
    );
    expect(backfillWorkflowId('finance', '2026-08-01T00:00:00Z', '2026-11-01T00:00:00Z')).toBe(
      'finance/backfill/2026-08-01--2026-11-01',
    );
    expect(() => backfillWorkflowId('sales_core', 'yesterday', '2026-11-01T00:00:00Z')).toThrow(/ISO-8601/);
  });
});
