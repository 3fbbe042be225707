import { describe, expect, it } from 'vitest';
import { ProgressBar, type ProgressMode } from './progress.js';

/** A ProgressBar writing into a string, on a clock the test moves. */
function bar(mode: ProgressMode) {
  let text = '';
  let now = 0;
  const out = { columns: 100, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  const progress = new ProgressBar(mode, out, () => now);
  return {
    progress,
    tick: (ms: number) => (now += ms),
    get text() {
      return text;
    },
    /** The lines left on screen (see test/progress-pty.test.ts). */
    get screen() {
      return text.split('\n').map((l) => (l.split('\x1b[2K').at(-1) ?? '').replaceAll('\r', ''));
    },
  };
}

describe('ProgressBar', () => {
  it('a phase cut short (an error, Ctrl-C) is left as far as it got, with a newline, before anything else prints', () => {
    const b = bar('terminal');
    b.progress.update({ phase: 'read', done: 0, total: 4 * 1024 * 1024 });
    b.tick(1000);
    b.progress.update({ phase: 'read', done: 1024 * 1024, total: 4 * 1024 * 1024 });
    expect(b.text).toMatch(/read +25% +1\.0 MiB \/ 4\.0 MiB +1\.0 MiB\/s +ETA 3\.0 s$/);
    b.progress.done();
    expect(b.screen).toEqual(['read                   25%  1.0 MiB / 4.0 MiB  1.0 MiB/s  1.0 s, stopped', '']);
  });

  it('a log record goes above the live lines, which are drawn again below it', () => {
    const b = bar('terminal');
    b.progress.update({ phase: 'snapshot', done: 10, total: 100, subject: 'trades' });
    b.progress.update({ phase: 'pack', done: 10, total: 1000 });
    b.progress.write('WARN: something\n');
    expect(b.screen.slice(0, -1)).toEqual(['WARN: something', expect.stringMatching(/^snapshot trades +10% +10 \/ 100 pages/)]);
    expect(b.screen.at(-1)).toMatch(/^pack +1% +10 B \/ 1000 B/);
  });

  it('a phase that starts again from lower down (the next copy) ends the first as stopped', () => {
    const b = bar('json');
    b.progress.update({ phase: 'read', done: 50, total: 100 });
    b.progress.update({ phase: 'read', done: 10, total: 100 });
    b.progress.update({ phase: 'read', done: 100, total: 100 });
    b.progress.update({ phase: 'read', done: 100, total: 100 });
    const events = b.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { state: string; done: number });
    expect(events.map((e) => [e.state, e.done])).toEqual([
      ['running', 50],
      ['stopped', 50],
      ['running', 10],
      ['done', 100],
    ]);
  });

  it('writes nothing when off', () => {
    const b = bar('off');
    b.progress.update({ phase: 'pack', done: 1, total: 2 });
    b.progress.done();
    expect(b.text).toBe('');
  });
});
