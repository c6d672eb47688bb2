/** Loss curves as a PNG: an SVG line chart rasterised by sharp (librsvg), no canvas needed. */
import sharp from 'sharp';
import { writeFileAtomic } from '../util/atomic.ts';

export interface Series {
  name: string;
  values: number[];
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** Renders the series (x = index + 1) into an SVG string. */
export function lineChartSvg(series: Series[], title: string, xLabel: string, width = 800, height = 450): string {
  const margin = { left: 60, right: 150, top: 36, bottom: 44 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  const n = Math.max(1, ...series.map((s) => s.values.length));
  let lo = all.length ? Math.min(...all) : 0;
  let hi = all.length ? Math.max(...all) : 1;
  if (hi - lo < 1e-9) {
    lo -= 0.5;
    hi += 0.5;
  }
  const x = (i: number) => margin.left + (n === 1 ? plotW / 2 : (i / (n - 1)) * plotW);
  const y = (v: number) => margin.top + plotH - ((v - lo) / (hi - lo)) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
  ];
  for (let t = 0; t <= 4; t++) {
    const v = lo + ((hi - lo) * t) / 4;
    parts.push(
      `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`,
      `<text x="${margin.left - 6}" y="${y(v) + 4}" text-anchor="end">${v.toPrecision(3)}</text>`,
    );
  }
  parts.push(`<text x="${margin.left + plotW / 2}" y="${height - 10}" text-anchor="middle">${escapeXml(xLabel)} (1…${n})</text>`);
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length]!;
    const points = s.values
      .map((v, i) => (Number.isFinite(v) ? `${x(i).toFixed(1)},${y(v).toFixed(1)}` : null))
      .filter((p): p is string => p !== null);
    if (points.length === 1) parts.push(`<circle cx="${points[0]!.split(',')[0]}" cy="${points[0]!.split(',')[1]}" r="3" fill="${color}"/>`);
    else parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"/>`);
    const ly = margin.top + 14 + k * 18;
    parts.push(
      `<line x1="${width - margin.right + 12}" x2="${width - margin.right + 32}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${width - margin.right + 38}" y="${ly}">${escapeXml(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Several charts stacked into one PNG (e.g. the losses above the validation figures). */
export async function writeChartPanels(path: string, panels: { series: Series[]; title: string; xLabel: string }[]): Promise<void> {
  const width = 800;
  const height = 450;
  const layers = panels.map((p, i) => ({ input: Buffer.from(lineChartSvg(p.series, p.title, p.xLabel, width, height)), top: i * height, left: 0 }));
  const png = await sharp({ create: { width, height: height * panels.length, channels: 3, background: 'white' } })
    .composite(layers)
    .png()
    .toBuffer();
  await writeFileAtomic(path, png);
}
