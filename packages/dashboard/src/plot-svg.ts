import { esc } from './html.js';

/**
 * Small time plots drawn on the server as inline SVG: no script, no external asset, readable in
 * any browser and in a page saved to disk. Each data point is a mark with a `<title>` (the
 * browser shows it on hover) that gives its exact value. Pure: a plot is a function of its spec.
 */

/** One value at one time. */
export interface PlotPoint {
  /** Unix milliseconds. */
  t: number;
  v: number;
  /** The hover text: the exact value and what it is. */
  title: string;
}

/** One series of a plot: marks, and optionally a line through other vertices (a step or sawtooth). */
export interface PlotSeries {
  /** Its `data-series` and CSS class (`series-<name>`). */
  name: string;
  /** The legend's text. */
  label: string;
  /** One mark per point (each with its title). */
  marks: PlotPoint[];
  /** Vertices of a line drawn under the marks, oldest first; none when undefined. */
  line?: PlotPoint[] | undefined;
  shape?: 'circle' | 'square' | undefined;
}

/** A horizontal line at a value (a bound), with its label. */
export interface PlotGuide {
  name: string;
  v: number;
  label: string;
}

export interface PlotSpec {
  /** Its `data-plot`. */
  name: string;
  /** Shown above the plot, and the SVG's accessible name. */
  title: string;
  /** The time axis, Unix milliseconds. */
  from: number;
  to: number;
  series: PlotSeries[];
  guides?: PlotGuide[] | undefined;
  /** A value as the axis and the titles show it (`1.2 MiB`, `4.2 s`). */
  formatValue(v: number): string;
  /** Shown in the frame when no series has a mark. */
  emptyText: string;
  width?: number | undefined;
  height?: number | undefined;
}

/** Marks per series above which neighbours are merged (thin): one every 5 pixels of a plot, and a page of 50 sources stays a few MB. */
export const MAX_MARKS = 60;

const MARGIN = { left: 62, right: 8, top: 8, bottom: 30 };

/** A linear map of `domain` onto `range` (either may be reversed); a domain of zero width maps to the range's middle. */
export function linearScale(domain: readonly [number, number], range: readonly [number, number]): (x: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  if (d1 === d0) return () => (r0 + r1) / 2;
  const k = (r1 - r0) / (d1 - d0);
  return (x) => r0 + (x - d0) * k;
}

/** The smallest of 1, 2, 2.5, 5 times a power of ten that is at least `v` (1 for 0 or less): a round top for an axis. */
export function niceCeiling(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1;
  const power = 10 ** Math.floor(Math.log10(v));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= v * (1 - 1e-12)) return step * power;
  }
  return 10 * power;
}

/** A run of neighbouring points merged into one mark by {@link thin}: its highest point, how many it stands for, its first and last. */
export interface ThinnedMark<T> {
  top: T;
  count: number;
  first: T;
  last: T;
}

/**
 * At most `max` marks for `points` (sorted by time): one per point when there are no more than
 * that; otherwise the time range is cut into `max` equal slices and each non-empty slice becomes
 * one mark at its highest point. Generic, so that a caller words only the marks it keeps.
 */
export function thin<T extends { t: number; v: number }>(points: readonly T[], from: number, to: number, max: number): ThinnedMark<T>[] {
  if (points.length <= max) return points.map((p) => ({ top: p, count: 1, first: p, last: p }));
  const width = (to - from) / max || 1;
  const out: ThinnedMark<T>[] = [];
  let slice = -1;
  for (const p of points) {
    const i = Math.min(max - 1, Math.max(0, Math.floor((p.t - from) / width)));
    const mark = out.at(-1);
    if (i !== slice || !mark) {
      out.push({ top: p, count: 1, first: p, last: p });
      slice = i;
    } else {
      mark.count++;
      mark.last = p;
      if (p.v > mark.top.v) mark.top = p;
    }
  }
  return out;
}

/**
 * {@link thin} for points that carry their titles: a merged mark is titled with how many points
 * it stands for, its time range and its highest point's own title. `noun` names what a point is
 * (`backups`).
 */
export function thinMarks(points: readonly PlotPoint[], from: number, to: number, max: number, noun: string, formatTime = isoMinute): PlotPoint[] {
  return thin(points, from, to, max).map((m) => (m.count === 1 ? m.top : { t: m.top.t, v: m.top.v, title: mergedTitle(m, noun, m.top.title, formatTime) }));
}

/** `12 backups from <time> to <time>; the highest: <its title>`. */
export function mergedTitle(mark: ThinnedMark<{ t: number }>, noun: string, topTitle: string, formatTime = isoMinute): string {
  return `${mark.count} ${noun} from ${formatTime(mark.first.t)} to ${formatTime(mark.last.t)}; the highest: ${topTitle}`;
}

/**
 * The vertices of a line worth drawing at this width: all of them up to `max`; past it, per
 * slice of time its lowest and highest vertex and its last one, in time order, so that a
 * sawtooth of a thousand teeth keeps its envelope in a few hundred points.
 */
export function thinLine<T extends { t: number; v: number }>(points: readonly T[], from: number, to: number, max: number): T[] {
  if (points.length <= max) return [...points];
  const slices = Math.max(1, Math.floor(max / 3));
  const width = (to - from) / slices || 1;
  const out: T[] = [];
  let group: T[] = [];
  let slice = -1;
  const flush = () => {
    if (group.length === 0) return;
    const low = group.reduce((a, b) => (b.v < a.v ? b : a));
    const high = group.reduce((a, b) => (b.v > a.v ? b : a));
    for (const p of new Set([group[0]!, low, high, group.at(-1)!].sort((a, b) => a.t - b.t))) out.push(p);
    group = [];
  };
  for (const p of points) {
    const i = Math.min(slices - 1, Math.max(0, Math.floor((p.t - from) / width)));
    if (i !== slice) flush();
    slice = i;
    group.push(p);
  }
  flush();
  return out;
}

/**
 * The plot as an `<svg>` element: a frame, the value axis from 0 to a round top (at least every
 * value and guide), the time axis from `from` to `to` with their dates, each guide as a dashed
 * line, each series' line and marks (`[data-point]`, each with its `<title>`), and a legend.
 */
export function renderPlot(spec: PlotSpec): string {
  const width = spec.width ?? 360;
  const height = spec.height ?? 150;
  const values = [...spec.series.flatMap((s) => [...s.marks, ...(s.line ?? [])].map((p) => p.v)), ...(spec.guides ?? []).map((g) => g.v)];
  const top = niceCeiling(Math.max(0, ...values));
  const x = linearScale([spec.from, spec.to], [MARGIN.left, width - MARGIN.right]);
  const y = linearScale([0, top], [height - MARGIN.bottom, MARGIN.top]);
  const px = (t: number) => fixed(x(t));
  const py = (v: number) => fixed(y(v));
  const bottom = height - MARGIN.bottom;
  const right = width - MARGIN.right;
  const parts: string[] = [];
  parts.push(`<title>${esc(spec.title)}</title>`);
  parts.push(`<rect class="frame" x="${MARGIN.left}" y="${MARGIN.top}" width="${right - MARGIN.left}" height="${bottom - MARGIN.top}"/>`);
  for (const v of [0, top / 2, top]) {
    parts.push(`<line class="grid" x1="${MARGIN.left}" x2="${right}" y1="${py(v)}" y2="${py(v)}"/>`);
    parts.push(`<text class="axis" x="${MARGIN.left - 4}" y="${fixed(y(v) + 3)}" text-anchor="end">${esc(spec.formatValue(v))}</text>`);
  }
  parts.push(`<text class="axis" x="${MARGIN.left}" y="${bottom + 12}" text-anchor="start">${esc(isoDay(spec.from))}</text>`);
  parts.push(`<text class="axis" x="${right}" y="${bottom + 12}" text-anchor="end">${esc(isoDay(spec.to))}</text>`);
  for (const g of spec.guides ?? []) {
    parts.push(
      `<line class="guide guide-${esc(g.name)}" data-guide="${esc(g.name)}" x1="${MARGIN.left}" x2="${right}" y1="${py(g.v)}" y2="${py(g.v)}"><title>${esc(g.label)}</title></line>`,
    );
  }
  const hasMarks = spec.series.some((s) => s.marks.length > 0);
  if (!hasMarks) {
    parts.push(
      `<text class="empty" x="${fixed((MARGIN.left + right) / 2)}" y="${fixed((MARGIN.top + bottom) / 2)}" text-anchor="middle">${esc(spec.emptyText)}</text>`,
    );
  }
  let legendX = MARGIN.left;
  for (const s of spec.series) {
    const body: string[] = [];
    if (s.line && s.line.length > 1) body.push(`<polyline class="line" points="${s.line.map((p) => `${px(p.t)},${py(p.v)}`).join(' ')}"/>`);
    for (const p of s.marks) {
      const title = `<title>${esc(p.title)}</title>`;
      body.push(
        s.shape === 'square'
          ? `<rect class="mark" data-point="" x="${fixed(x(p.t) - 2.5)}" y="${fixed(y(p.v) - 2.5)}" width="5" height="5">${title}</rect>`
          : `<circle class="mark" data-point="" cx="${px(p.t)}" cy="${py(p.v)}" r="2.5">${title}</circle>`,
      );
    }
    parts.push(`<g class="series series-${esc(s.name)}" data-series="${esc(s.name)}">${body.join('')}</g>`);
    // The legend: a swatch in the series' colour and its label, along the bottom.
    parts.push(
      `<g class="legend series-${esc(s.name)}"><rect class="mark" x="${legendX}" y="${bottom + 18}" width="8" height="8"/><text class="axis" x="${legendX + 11}" y="${bottom + 26}">${esc(s.label)}</text></g>`,
    );
    legendX += 16 + 6 * s.label.length;
  }
  return `<svg class="plot" data-plot="${esc(spec.name)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(spec.title)}">${parts.join('')}</svg>`;
}

/** `2026-11-26`, in UTC like every time on the page. */
function isoDay(t: number): string {
  return new Date(t).toISOString().slice(0, 10);
}

/** `2026-11-26 14:05 UTC`. */
export function isoMinute(t: number): string {
  return `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function fixed(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}
