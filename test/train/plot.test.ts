import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { plotData, plotSpec, thinEpochs, type PlotData } from '../../src/train/plot-spec.ts';
import { renderSvg } from '../../src/train/plot.ts';
import { plotLosses, type LogLine } from '../../src/train/run-log.ts';

const CYCLEGAN = ['genAtoB', 'genBtoA', 'cycle', 'identity', 'discA', 'discB'];
const CUT = ['genAtoB', 'nce', 'nceIdentity', 'discB'];
const KNOWN = [...CYCLEGAN, ...CUT];

const figures = (kid: number, rate?: number) => ({
  kid: { mean: kid, std: 0.1, subsetSize: 50 },
  ...(rate !== undefined ? { classRate: { rate, meanProb: rate / 2 } } : {}),
});

function cycleganEpoch(epoch: number): LogLine {
  const f = 1 / epoch;
  return {
    epoch,
    globalStep: epoch * 4,
    steps: 4,
    lr: 0.0002,
    genAtoB: 0.9 * f,
    genBtoA: 0.8 * f,
    cycle: 9 * f,
    identity: 4 * f,
    discA: 0.3 * f,
    discB: 0.25 * f,
    seconds: 1.5,
    cpuSeconds: epoch * 2.2,
    wallSeconds: epoch * 1.5,
  };
}

const baselines = {
  AtoB: { floor: figures(31.2, 0), ceiling: figures(0.4, 0.86) },
  BtoA: { floor: figures(30.1, 0.01), ceiling: figures(-0.7, 0.3) },
};
const cycleganEvals: LogLine[] = [
  {
    type: 'eval',
    globalStep: 6,
    score: 30,
    best: true,
    AtoB: figures(26.8, 0.16),
    BtoA: figures(42.3, 0),
    cpuSeconds: 4,
    wallSeconds: 3,
    baselines,
  },
  { type: 'eval', globalStep: 12, score: 25, best: true, AtoB: figures(22.1, 0.3), BtoA: figures(28, 0.05), cpuSeconds: 7, wallSeconds: 5 },
];
const cycleganLog: LogLine[] = [cycleganEpoch(1), cycleganEvals[0]!, cycleganEpoch(2), cycleganEpoch(3), cycleganEvals[1]!];

function cutLog(): LogLine[] {
  const lines: LogLine[] = [];
  for (let epoch = 1; epoch <= 3; epoch++)
    lines.push({
      epoch,
      globalStep: epoch * 10,
      steps: 10,
      lr: 0.0002,
      genAtoB: 0.8 / epoch,
      nce: 60 / epoch,
      nceIdentity: 0,
      discB: 0.3,
      seconds: 2,
      cpuSeconds: epoch * 3,
      wallSeconds: epoch * 2,
    });
  lines.push({
    type: 'eval',
    globalStep: 30,
    score: 40,
    best: true,
    AtoB: figures(40),
    cpuSeconds: 10,
    wallSeconds: 7,
    baselines: { AtoB: { floor: figures(30), ceiling: figures(0.2) } },
  });
  return lines;
}

/** The texts of the SVG's marks of one role (axis-label, legend-label, …). */
function texts(svg: string, role: string): string[] {
  const out: string[] = [];
  for (const group of svg.matchAll(new RegExp(`<g class="mark-text role-${role}(?: [^"]*)?"[^>]*>(.*?)</g>`, 'g'))) {
    for (const t of group[1]!.matchAll(/<text[^>]*>([^<]*)<\/text>/g)) out.push(t[1]!.replace(/&amp;/g, '&'));
  }
  return out;
}

/** Every panel's layers, flattened. */
function layers(spec: unknown): Record<string, unknown>[] {
  const s = spec as { vconcat?: { layer: Record<string, unknown>[] }[] };
  return (s.vconcat ?? []).flatMap((p) => p.layer);
}

describe('the training plot', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'plot-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('plots each CycleGAN loss over the step, with the epoch ends marked and labelled', async () => {
    const data = plotData(cycleganLog, 'CycleGAN', KNOWN);
    assert.deepEqual(data.losses, CYCLEGAN);
    assert.deepEqual(data.unplotted, []);
    assert.deepEqual(data.epochMarks, [
      { epoch: 1, step: 4 },
      { epoch: 2, step: 8 },
      { epoch: 3, step: 12 },
    ]);
    assert.equal(data.lossPoints.length, 3 * CYCLEGAN.length);
    assert.deepEqual(
      data.lossPoints.filter((p) => p.loss === 'cycle').map((p) => [p.step, p.value]),
      [
        [4, 9],
        [8, 4.5],
        [12, 3],
      ],
    );
    assert.equal(data.maxStep, 12);
    assert.match(data.subtitle, /3 epochs · 12 steps · 7 CPU-s · 2 validations/);

    const { svg, warnings } = await renderSvg(plotSpec(data));
    assert.deepEqual(warnings, []);
    const legend = texts(svg, 'legend-label');
    for (const name of [...CYCLEGAN, 'A→B', 'B→A', 'floor (untranslated)', 'ceiling (real targets)'])
      assert.ok(legend.includes(name), `legend lacks ${name}: ${legend.join(', ')}`);
    const epochLabels = texts(svg, 'mark').filter((t) => t.startsWith('epoch'));
    assert.deepEqual(epochLabels, ['epoch 1', 'epoch 2', 'epoch 3']);
    for (const title of ['global step', 'loss', 'KID×1000', 'class rate (%)'])
      assert.ok(texts(svg, 'axis-title').includes(title), `no axis titled ${title}`);
  });

  it('labels the axes with round numbers', async () => {
    for (const lines of [cycleganLog, cutLog()]) {
      const { svg } = await renderSvg(plotSpec(plotData(lines, 'run', KNOWN)));
      const labels = texts(svg, 'axis-label').filter((t) => t !== '');
      assert.ok(labels.length > 10, `only ${labels.length} tick labels`);
      for (const label of labels) {
        assert.match(label, /^−?-?[\d,]+(\.\d{1,2})?$/, `tick label ${label}`);
        assert.ok(Number.isFinite(Number(label.replace(/,/g, '').replace('−', '-'))), `tick label ${label}`);
      }
    }
  });

  it('draws the validation panels only when the log has eval lines, with their floors and ceilings', () => {
    const withEvals = plotSpec(plotData(cycleganLog, 'CycleGAN', KNOWN)) as { vconcat: unknown[] };
    assert.equal(withEvals.vconcat.length, 3, 'losses, KID, class rate');
    const data = plotData(cycleganLog, 'CycleGAN', KNOWN);
    assert.deepEqual(
      data.evals.map((e) => [e.direction, e.step, e.kid]),
      [
        ['A→B', 6, 26.8],
        ['B→A', 6, 42.3],
        ['A→B', 12, 22.1],
        ['B→A', 12, 28],
      ],
    );
    assert.deepEqual(
      data.evals.map((e) => e.classRate),
      [16, 0, 30, 5],
    );
    assert.deepEqual(
      data.baselines.map((b) => [b.direction, b.which, b.kid, b.classRate]),
      [
        ['A→B', 'floor (untranslated)', 31.2, 0],
        ['A→B', 'ceiling (real targets)', 0.4, 86],
        ['B→A', 'floor (untranslated)', 30.1, 1],
        ['B→A', 'ceiling (real targets)', -0.7, 30],
      ],
    );
    assert.equal(data.evalEvery, 6);

    const without = plotSpec(
      plotData(
        cycleganLog.filter((l) => l.type !== 'eval'),
        'CycleGAN',
        KNOWN,
      ),
    );
    assert.equal((without as { vconcat: unknown[] }).vconcat.length, 1);
    assert.doesNotMatch(JSON.stringify(without), /KID|class rate|direction/);
    assert.equal(layers(without).filter((l) => JSON.stringify(l).includes('"kid"')).length, 0);
  });

  it("names CUT's losses from its lines, leaves out an always-0 loss and shows A→B only", async () => {
    const data = plotData(cutLog(), 'CUT', [...CUT, ...CYCLEGAN]);
    assert.deepEqual(data.losses, ['genAtoB', 'nce', 'discB']);
    assert.deepEqual(data.unplotted, ['nceIdentity']);
    const spec = plotSpec(data);
    assert.equal((spec as { vconcat: unknown[] }).vconcat.length, 2, 'losses and KID: no class rate without a target class');
    const { svg, warnings } = await renderSvg(spec);
    assert.deepEqual(warnings, []);
    const legend = texts(svg, 'legend-label');
    assert.ok(legend.includes('nce') && legend.includes('A→B'));
    assert.ok(!legend.includes('B→A') && !legend.includes('cycle') && !legend.includes('nceIdentity'));
    assert.match(svg, /nceIdentity always 0: not plotted/);
  });

  it('marks at most 20 epochs: every k-th for a long run', () => {
    const epochs = (n: number) => Array.from({ length: n }, (_, i) => ({ epoch: i + 1, step: (i + 1) * 7 }));
    assert.equal(thinEpochs(epochs(20)).length, 20);
    assert.deepEqual(
      thinEpochs(epochs(45)).map((e) => e.epoch),
      [5, 10, 15, 20, 25, 30, 35, 40, 45],
    );
    assert.deepEqual(
      thinEpochs(epochs(200))
        .map((e) => e.step)
        .slice(0, 3),
      [70, 140, 210],
    );
    assert.equal(thinEpochs(epochs(200)).length, 20);
    assert.equal(thinEpochs(epochs(1000)).length, 20);
  });

  it('writes losses.png as a PNG of the size it reports, the same bytes for the same log', async () => {
    const log = join(dir, 'log.jsonl');
    await writeFile(log, `${cycleganLog.map((l) => JSON.stringify(l)).join('\n')}\n{"epoch":4,"glo`);
    const out = join(dir, 'losses.png');
    const size = await plotLosses(log, out, 'cyclegan');
    const meta = await sharp(out).metadata();
    assert.equal(meta.format, 'png');
    assert.deepEqual({ width: meta.width, height: meta.height }, size);
    assert.ok(size.width > 1000 && size.height > 1000, `${size.width}×${size.height}`);
    const stats = await sharp(out).stats();
    assert.ok(
      stats.channels.every((c) => c.min < 80 && c.max === 255),
      'dark text and lines on white',
    );
    const first = await sharp(out).raw().toBuffer();
    await plotLosses(log, out, 'cyclegan');
    assert.ok(first.equals(await sharp(out).raw().toBuffer()), 'same log, same picture');
    const a = await renderSvg(plotSpec(plotData(cycleganLog, 'CycleGAN', KNOWN)));
    const b = await renderSvg(plotSpec(plotData(cycleganLog, 'CycleGAN', KNOWN)));
    assert.equal(a.svg, b.svg);
  });

  it('says so when the log has no lines yet, without failing', async () => {
    const out = join(dir, 'empty.png');
    const size = await plotLosses(join(dir, 'missing.jsonl'), out, 'cut');
    assert.equal((await sharp(out).metadata()).width, size.width);
    const data: PlotData = plotData([], 'CUT', KNOWN);
    const { svg, warnings } = await renderSvg(plotSpec(data));
    assert.deepEqual(warnings, []);
    assert.match(svg, /log\.jsonl has no epoch or validation lines yet/);
    // Validation before the first epoch ends: the KID panel alone.
    const early = plotSpec(plotData([cycleganEvals[0]!], 'CycleGAN', KNOWN)) as { vconcat: unknown[] };
    assert.equal(early.vconcat.length, 2);
    assert.match(JSON.stringify(early), /no epoch finished yet/);
  });
});
