/**
 * Charts as PNG without a canvas: a Vega-Lite spec is compiled to Vega, rendered headless to SVG
 * (Vega estimates text widths when no canvas is installed) and rasterised by sharp (librsvg).
 */
import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../util/atomic.ts';

export interface RenderedSvg {
  svg: string;
  /** The SVG's size in pixels (scale included). */
  width: number;
  height: number;
  /** What Vega-Lite and Vega warned about while compiling and rendering (none for a sound spec). */
  warnings: string[];
}

function collector(warnings: string[]) {
  const logger = {
    level: (..._: unknown[]) => logger,
    error: (...m: unknown[]) => {
      throw new Error(`vega: ${m.map(String).join(' ')}`);
    },
    warn: (...m: unknown[]) => {
      warnings.push(m.map(String).join(' '));
      return logger;
    },
    info: () => logger,
    debug: () => logger,
  };
  return logger;
}

/** The spec as an SVG string, `scale` times its natural size. */
export async function renderSvg(spec: TopLevelSpec, scale = 1): Promise<RenderedSvg> {
  const warnings: string[] = [];
  const logger = collector(warnings);
  const compiled = compile(spec, { logger: logger as never }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logger: logger as never });
  try {
    const svg = await view.toSVG(scale);
    const size = /<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
    if (!size) throw new Error('vega: the rendered SVG has no width and height');
    return { svg, width: Math.round(Number(size[1])), height: Math.round(Number(size[2])), warnings };
  } finally {
    view.finalize();
  }
}

/** Renders the spec and writes it as a PNG (atomically); returns the image's size. */
export async function writeChartPng(path: string, spec: TopLevelSpec, scale = 2): Promise<{ width: number; height: number }> {
  const { svg, width, height } = await renderSvg(spec, scale);
  const png = await sharp(Buffer.from(svg)).resize(width, height, { fit: 'fill' }).flatten({ background: '#ffffff' }).png().toBuffer();
  await writeFileAtomic(path, png);
  return { width, height };
}
