import { describe, expect, it } from 'vitest';
import { linearScale, niceCeiling, renderPlot, thinMarks, type PlotPoint, type PlotSpec } from './plot-svg.js';

const DAY = 86_400_000;
const from = Date.parse('2026-09-01T00:00:00Z');
const to = from + 90 * DAY;

function spec(over: Partial<PlotSpec> = {}): PlotSpec {
  return {
    name: 'stored',
    title: 'Stored bytes per backup',
    from,
    to,
    series: [],
    formatValue: (v) => `${v} B`,
    emptyText: 'no backups',
    ...over,
  };
}

/** The marks of a rendered plot: their series, coordinates and titles. */
function marksOf(svg: string): { series: string; x: number; y: number; title: string }[] {
  const out: { series: string; x: number; y: number; title: string }[] = [];
  for (const g of svg.matchAll(/<g class="series [^"]*" data-series="([^"]+)">(.*?)<\/g>/g)) {
    for (const m of g[2]!.matchAll(/<circle class="mark" data-point="" cx="([\d.-]+)" cy="([\d.-]+)" r="2.5"><title>(.*?)<\/title><\/circle>/g)) {
      out.push({ series: g[1]!, x: Number(m[1]), y: Number(m[2]), title: m[3]! });
    }
  }
  return out;
}

describe('linearScale', () => {
  it('maps the ends of the domain onto the ends of the range, reversed ranges included', () => {
    const y = linearScale([0, 100], [120, 8]);
    expect(y(0)).toBe(120);
    expect(y(100)).toBeCloseTo(8, 9);
    expect(y(50)).toBeCloseTo(64, 9);
    expect(linearScale([10, 10], [0, 6])(10)).toBe(3);
  });
});

describe('niceCeiling', () => {
  it.each([
    [0, 1],
    [-5, 1],
    [1, 1],
    [1.2, 2],
    [2.2, 2.5],
    [3, 5],
    [7, 10],
    [1234, 2000],
    [0.03, 0.05],
  ])('%d → %d', (v, want) => {
    expect(niceCeiling(v)).toBeCloseTo(want, 10);
  });
});

describe('renderPlot', () => {
  it('draws one mark per point, in its series, oldest at the left and 0 at the bottom', () => {
    const points: PlotPoint[] = [
      { t: from, v: 0, title: 'first' },
      { t: from + 45 * DAY, v: 50, title: 'middle' },
      { t: to, v: 100, title: 'last' },
    ];
    const svg = renderPlot(spec({ series: [{ name: 'full', label: 'full', marks: points }], width: 370, height: 158 }));
    const marks = marksOf(svg);
    expect(marks.map((m) => m.title)).toEqual(['first', 'middle', 'last']);
    // Frame: x from 62 to 362, y from 128 (0) to 8 (the top, 100).
    expect(marks.map((m) => [m.x, m.y])).toEqual([
      [62, 128],
      [212, 68],
      [362, 8],
    ]);
    expect(svg).toContain('>2026-09-01</text>');
    expect(svg).toContain('>2026-11-30</text>');
    expect(svg).not.toContain('no backups');
  });

  it('counts the marks of each series apart, and squares for a square series', () => {
    const svg = renderPlot(
      spec({
        series: [
          { name: 'full', label: 'full', marks: [{ t: from, v: 1, title: 'f' }], shape: 'square' },
          { name: 'incremental', label: 'incremental', marks: [1, 2, 3].map((d) => ({ t: from + d * DAY, v: d, title: `i${d}` })) },
        ],
      }),
    );
    expect(svg.match(/data-point=""/g)).toHaveLength(4);
    expect(svg).toMatch(/<g class="series series-full" data-series="full"><rect class="mark" data-point=""[^>]*><title>f<\/title><\/rect><\/g>/);
    expect(marksOf(svg).filter((m) => m.series === 'incremental')).toHaveLength(3);
  });

  it('raises the top to a guide above every value, and draws the guide with its label', () => {
    const svg = renderPlot(
      spec({ series: [{ name: 'age', label: 'age', marks: [{ t: from, v: 10, title: 'x' }] }], guides: [{ name: 'bound', v: 30, label: 'bound 30' }] }),
    );
    expect(svg).toContain('>50 B</text>');
    expect(svg).toMatch(/<line class="guide guide-bound" data-guide="bound"[^>]*><title>bound 30<\/title><\/line>/);
  });

  it('draws a line through its vertices under the marks', () => {
    const line = [
      { t: from, v: 0, title: '' },
      { t: to, v: 10, title: '' },
    ];
    const svg = renderPlot(spec({ series: [{ name: 'age', label: 'age', marks: [line[1]!], line }], width: 370, height: 158 }));
    expect(svg).toContain('<polyline class="line" points="62,128 362,8"/>');
  });

  it('says so when there is nothing to draw, and escapes every text', () => {
    const svg = renderPlot(spec({ title: 'a <b> & "c"', series: [{ name: 'x', label: '<x>', marks: [] }] }));
    expect(svg).toContain('>no backups</text>');
    expect(svg).toContain('aria-label="a &lt;b&gt; &amp; &quot;c&quot;"');
    expect(svg).toContain('>&lt;x&gt;</text>');
    expect(svg).not.toContain('data-point');
  });
});

describe('thinMarks', () => {
  const points = (n: number): PlotPoint[] => Array.from({ length: n }, (_, i) => ({ t: from + (i * (to - from)) / n, v: i % 7, title: `p${i}` }));

  it('leaves up to `max` points alone', () => {
    expect(thinMarks(points(10), from, to, 10, 'backups')).toEqual(points(10));
  });

  it('merges more into at most `max` marks, each its slice’s highest point, titled with how many it stands for', () => {
    const thin = thinMarks(points(1000), from, to, 100, 'backups');
    expect(thin).toHaveLength(100);
    // Slice 0 holds p0..p9 (values 0..6, then 0..2): its highest is p6.
    expect(thin[0]).toEqual({ t: points(1000)[6]!.t, v: 6, title: '10 backups from 2026-09-01 00:00 UTC to 2026-09-01 19:26 UTC; the highest: p6' });
    expect(thin.every((p, i) => i === 0 || p.t > thin[i - 1]!.t)).toBe(true);
  });
});
