// Simple line charts for reports: SVG drawn here, rendered to PNG by sharp (librsvg). One y axis, an
// x axis that may be logarithmic (steps 4, 8, 16 … sit evenly), one polyline per series, optional
// horizontal reference lines (a floor such as the VQGAN's reconstruction FID).
import sharp from 'sharp';

export interface Series {
  name: string;
  points: [number, number][];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Dashed horizontal lines with a label. */
  references?: { name: string; y: number }[];
  logX?: boolean;
  width?: number;
  height?: number;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
/** The legend sits in the right margin, clear of the lines. */
const MARGIN = { left: 70, right: 230, top: 40, bottom: 50 };

/** About five round tick values from at or below `lo` to at or above `hi`. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let i = Math.floor(lo / step); i <= Math.ceil(hi / step - 1e-9); i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(3))));

export function lineChartSvg(o: ChartOptions): string {
  const width = o.width ?? 860;
  const height = o.height ?? 400;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = [...o.series.flatMap((s) => s.points.map((p) => p[1])), ...(o.references ?? []).map((r) => r.y)].filter(Number.isFinite);
  if (xs.length === 0 || ys.length === 0) throw new Error(`chart '${o.title}': no points to draw`);
  const tx = (v: number) => (o.logX ? Math.log2(v) : v);
  let [x0, x1] = [Math.min(...xs.map(tx)), Math.max(...xs.map(tx))];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  const yTicks = niceTicks(Math.min(0, ...ys), Math.max(...ys) || 1);
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const px = (v: number) => MARGIN.left + ((tx(v) - x0) / (x1 - x0)) * plotW;
  const py = (v: number) => MARGIN.top + plotH - ((v - y0) / (y1 - y0 || 1)) * plotH;
  const xTicks = [...new Set(xs)].sort((a, b) => a - b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escape(o.title)}</text>`,
  ];
  for (const v of yTicks) {
    parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${py(v)}" y2="${py(v)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${py(v) + 4}" text-anchor="end">${fmt(v)}</text>`);
  }
  for (const v of xTicks) parts.push(`<text x="${px(v)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${fmt(v)}</text>`);
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${MARGIN.left + plotW / 2}" y="${height - 10}" text-anchor="middle">${escape(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(o.yLabel)}</text>`);
  const legend: { name: string; colour: string; dashed: boolean }[] = [];
  for (const r of o.references ?? []) {
    const colour = '#777';
    parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${py(r.y)}" y2="${py(r.y)}" stroke="${colour}" stroke-dasharray="6 4" stroke-width="1.5"/>`);
    legend.push({ name: `${r.name} (${fmt(r.y)})`, colour, dashed: true });
  }
  o.series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts.map(([x, y]) => `${px(x)},${py(y)}`).join(' ')}"/>`);
    for (const [x, y] of pts) parts.push(`<circle cx="${px(x)}" cy="${py(y)}" r="3.5" fill="${colour}"/>`);
    legend.push({ name: s.name, colour, dashed: false });
  });
  legend.forEach((l, i) => {
    const y = MARGIN.top + 14 + i * 18;
    const x = MARGIN.left + plotW + 14;
    parts.push(`<line x1="${x}" x2="${x + 24}" y1="${y - 4}" y2="${y - 4}" stroke="${l.colour}" stroke-width="2"${l.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    parts.push(`<text x="${x + 30}" y="${y}">${escape(l.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** The chart as PNG bytes. */
export function lineChartPng(o: ChartOptions): Promise<Buffer> {
  return sharp(Buffer.from(lineChartSvg(o))).png().toBuffer();
}
