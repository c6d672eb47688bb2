/**
 * What a run's losses.png shows, as data and as a Vega-Lite spec (plot.ts renders it): the loss
 * curves (the epoch means of log.jsonl, over the global step, log scale) with a rule at each epoch's
 * end labelled "epoch N", and when the run validates, the validation KID×1000 and class rate per
 * direction over the same steps, against the floor (untranslated sources) and ceiling (real
 * targets) the log's first eval line records. Pure: the same lines give the same spec.
 */
import type { TopLevelSpec } from 'vega-lite';

/** One line of a run's log.jsonl (run-log.ts reads and writes them; this file only reads their fields). */
export type LogLine = Record<string, unknown> & { globalStep?: number; epoch?: number; type?: string };

/** One loss's epoch mean, plotted at the global step the epoch ended on. */
export interface LossPoint {
  loss: string;
  epoch: number;
  step: number;
  value: number;
}

export interface EpochMark {
  epoch: number;
  /** The global step the epoch ended on. */
  step: number;
}

export type PlotDirection = 'A→B' | 'B→A';

export interface EvalPoint {
  direction: PlotDirection;
  step: number;
  kid: number;
  /** Share of translations classed as the target class, in percent; absent without a target class. */
  classRate?: number;
  best: boolean;
}

export interface Baseline {
  direction: PlotDirection;
  which: 'floor (untranslated)' | 'ceiling (real targets)';
  kid?: number;
  classRate?: number;
}

export interface PlotData {
  title: string;
  subtitle: string;
  /** The losses plotted, in legend order. */
  losses: string[];
  /** Losses the log has that are never above 0 (a disabled term): a log scale cannot show them. */
  unplotted: string[];
  lossPoints: LossPoint[];
  /** Every epoch's end; `epochMarks` are the ones drawn (thinned to at most MAX_EPOCH_MARKS). */
  epochs: EpochMark[];
  epochMarks: EpochMark[];
  evals: EvalPoint[];
  baselines: Baseline[];
  /** Steps between validations, when the log has two or more. */
  evalEvery?: number;
  /** The x axis runs from 0 to here in every panel, so the panels line up. */
  maxStep: number;
}

export const MAX_EPOCH_MARKS = 20;
const DIRECTIONS: [string, PlotDirection][] = [
  ['AtoB', 'A→B'],
  ['BtoA', 'B→A'],
];
const DIRECTION_COLORS = ['#1f77b4', '#d62728'];
const WIDTH = 720;

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const at = (v: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), v);

/** The epochs to mark: every k-th, k the smallest of 1, 2, 5, 10, 20, 50, … that keeps them to `max`. */
export function thinEpochs(epochs: EpochMark[], max = MAX_EPOCH_MARKS): EpochMark[] {
  let k = 1;
  for (let i = 0; epochs.length / k > max; i++) k = [2, 5, 10][i % 3]! * 10 ** Math.floor(i / 3);
  return k === 1 ? epochs : epochs.filter((e) => e.epoch % k === 0);
}

function cpuTime(seconds: number): string {
  if (seconds < 120) return `${seconds.toFixed(0)} CPU-s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(0)} CPU-min`;
  return `${(seconds / 3600).toFixed(1)} CPU-h`;
}

/**
 * The plot's data from the log lines: epoch lines (no `type`, with `epoch`) give the loss points,
 * `type: "eval"` lines the validation points. `knownLosses` are the loss names a line may carry
 * (the run's method's first, then the other methods'); the legend shows those the lines have.
 */
export function plotData(lines: LogLine[], label: string, knownLosses: readonly string[]): PlotData {
  const byEpoch = new Map<number, LogLine>();
  for (const l of lines)
    if (l.type === undefined && num(l.epoch) !== undefined && num(l.globalStep) !== undefined) byEpoch.set(l.epoch!, l);
  const epochLines = [...byEpoch.values()].sort((a, b) => a.globalStep! - b.globalStep! || a.epoch! - b.epoch!);
  const present = [...new Set(knownLosses)].filter((name) => epochLines.some((l) => num(l[name]) !== undefined));
  const losses = present.filter((name) => epochLines.some((l) => (num(l[name]) ?? 0) > 0));
  const lossPoints = epochLines.flatMap((l) =>
    losses.flatMap((loss) => {
      const value = num(l[loss]);
      return value !== undefined && value > 0 ? [{ loss, epoch: l.epoch!, step: l.globalStep!, value }] : [];
    }),
  );
  const epochs = epochLines.map((l) => ({ epoch: l.epoch!, step: l.globalStep! }));

  const evalLines = lines.filter((l) => l.type === 'eval' && num(l.globalStep) !== undefined).sort((a, b) => a.globalStep! - b.globalStep!);
  const evals: EvalPoint[] = evalLines.flatMap((l) =>
    DIRECTIONS.flatMap(([key, direction]) => {
      const kid = num(at(l, key, 'kid', 'mean'));
      if (kid === undefined) return [];
      const rate = num(at(l, key, 'classRate', 'rate'));
      return [{ direction, step: l.globalStep!, kid, best: l.best === true, ...(rate !== undefined ? { classRate: rate * 100 } : {}) }];
    }),
  );
  const recorded = evalLines.find((l) => l.baselines !== undefined)?.baselines;
  const baselines: Baseline[] = DIRECTIONS.flatMap(([key, direction]) =>
    (['floor', 'ceiling'] as const).flatMap((side) => {
      const kid = num(at(recorded, key, side, 'kid', 'mean'));
      const rate = num(at(recorded, key, side, 'classRate', 'rate'));
      if ((kid === undefined && rate === undefined) || !evals.some((e) => e.direction === direction)) return [];
      const which = side === 'floor' ? 'floor (untranslated)' : 'ceiling (real targets)';
      return [
        {
          direction,
          which,
          ...(kid !== undefined ? { kid } : {}),
          ...(rate !== undefined ? { classRate: rate * 100 } : {}),
        } satisfies Baseline,
      ];
    }),
  );
  const evalSteps = evalLines.map((l) => l.globalStep!);
  const maxStep = Math.max(1, ...epochs.map((e) => e.step), ...evalSteps);
  const cpu = lines.map((l) => num(l.cpuSeconds)).filter((c) => c !== undefined);
  const parts = [
    epochs.length > 0 ? `${epochs.length} epoch${epochs.length > 1 ? 's' : ''}` : 'no epoch finished yet',
    `${Math.max(...epochs.map((e) => e.step), ...evalSteps, 0)} steps`,
    ...(cpu.length > 0 ? [cpuTime(Math.max(...cpu))] : []),
    ...(evalLines.length > 0 ? [`${evalLines.length} validation${evalLines.length > 1 ? 's' : ''}`] : []),
  ];
  return {
    title: `${label} training run`,
    subtitle: parts.join(' · '),
    losses,
    unplotted: present.filter((name) => !losses.includes(name)),
    lossPoints,
    epochs,
    epochMarks: thinEpochs(epochs),
    evals,
    baselines,
    ...(evalSteps.length > 1 ? { evalEvery: evalSteps[1]! - evalSteps[0]! } : {}),
    maxStep,
  };
}

type Layer = Record<string, unknown>;

function stepAxis(data: PlotData, title: string | null): Record<string, unknown> {
  return { field: 'step', type: 'quantitative', title, scale: { domain: [0, data.maxStep] }, axis: { tickMinStep: 1, labelFlush: true } };
}

/** The epoch-end rules (labelled "epoch N" in the loss panel), one layer each. */
function epochLayers(data: PlotData, labelled: boolean): Layer[] {
  if (data.epochMarks.length === 0) return [];
  const rules: Layer = {
    data: { values: data.epochMarks },
    mark: { type: 'rule', color: '#9a9a9a', strokeDash: [3, 3], strokeWidth: 1 },
    encoding: { x: { field: 'step', type: 'quantitative' } },
  };
  if (!labelled) return [rules];
  const labels: Layer = {
    data: { values: data.epochMarks.map((e) => ({ ...e, label: `epoch ${e.epoch}` })) },
    mark: { type: 'text', angle: 270, align: 'right', baseline: 'bottom', dx: -4, dy: -2, fontSize: 10, color: '#666' },
    encoding: { x: { field: 'step', type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } },
  };
  return [rules, labels];
}

/** Each direction keeps its colour whichever directions a run validates (CUT: A→B only). */
function directionColor(data: PlotData) {
  const present = DIRECTIONS.map(([, d], i) => ({ d, color: DIRECTION_COLORS[i]! })).filter(({ d }) =>
    data.evals.some((e) => e.direction === d),
  );
  return {
    field: 'direction',
    type: 'nominal',
    title: 'direction',
    scale: { domain: present.map((p) => p.d), range: present.map((p) => p.color) },
  };
}

/** Point marks on the lines while they are few enough to tell apart. */
const withPoints = (n: number) => ({ type: 'line', point: n <= 60, strokeWidth: 2 });

function lossPanel(data: PlotData): Layer {
  const note = data.unplotted.length > 0 ? ` (${data.unplotted.join(', ')} always 0: not plotted)` : '';
  return {
    title: {
      text: 'losses (epoch means, log scale)',
      subtitle: `each point is an epoch's mean loss at the step the epoch ended${note}`,
      anchor: 'start',
    },
    width: WIDTH,
    height: 300,
    layer: [
      ...epochLayers(data, true),
      {
        data: { values: data.lossPoints },
        mark: withPoints(data.epochs.length),
        encoding: {
          x: stepAxis(data, 'global step'),
          y: { field: 'value', type: 'quantitative', title: 'loss', scale: { type: 'log' } },
          color: { field: 'loss', type: 'nominal', title: 'loss', sort: data.losses, scale: { scheme: 'category10' } },
          order: { field: 'step' },
        },
      },
    ],
  };
}

function evalPanel(data: PlotData, field: 'kid' | 'classRate'): Layer {
  const kid = field === 'kid';
  const points = data.evals.filter((e) => e[field] !== undefined);
  const baselines = data.baselines.filter((b) => b[field] !== undefined);
  const every = data.evalEvery !== undefined ? `, every ${data.evalEvery} steps` : '';
  const y = { field, type: 'quantitative', title: kid ? 'KID×1000' : 'class rate (%)', ...(kid ? {} : { scale: { domain: [0, 100] } }) };
  return {
    title: {
      text: kid
        ? `validation KID×1000 (lower is better${every})`
        : 'validation class rate (share classed as the target class; higher is better)',
      ...(baselines.length > 0
        ? { subtitle: 'dashed: what the untranslated sources score (floor) and what real targets score (ceiling)' }
        : {}),
      anchor: 'start',
    },
    width: WIDTH,
    height: kid ? 220 : 160,
    layer: [
      ...epochLayers(data, false),
      ...(baselines.length > 0
        ? [
            {
              data: { values: baselines },
              mark: { type: 'rule', strokeWidth: 1.5, opacity: 0.7 },
              encoding: {
                y,
                color: directionColor(data),
                strokeDash: {
                  field: 'which',
                  type: 'nominal',
                  title: 'baseline',
                  scale: {
                    domain: ['floor (untranslated)', 'ceiling (real targets)'],
                    range: [
                      [6, 3],
                      [2, 2],
                    ],
                  },
                },
              },
            },
          ]
        : []),
      {
        data: { values: points },
        mark: withPoints(points.length / 2),
        encoding: { x: stepAxis(data, 'global step'), y, color: directionColor(data), order: { field: 'step' } },
      },
    ],
    resolve: { scale: { strokeDash: 'independent' } },
  };
}

/** The figure's Vega-Lite spec: the loss panel, then the validation panels the log has figures for. */
export function plotSpec(data: PlotData): TopLevelSpec {
  const panels: Layer[] = [];
  if (data.lossPoints.length > 0) panels.push(lossPanel(data));
  if (data.evals.length > 0) panels.push(evalPanel(data, 'kid'));
  if (data.evals.some((e) => e.classRate !== undefined)) panels.push(evalPanel(data, 'classRate'));
  const top = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    background: 'white',
    padding: 12,
    config: { font: 'DejaVu Sans, sans-serif', legend: { labelLimit: 240 }, title: { offset: 10 } },
  };
  if (panels.length === 0) {
    const message = data.epochs.length > 0 ? 'the epoch lines carry no loss above 0' : 'log.jsonl has no epoch or validation lines yet';
    return {
      ...top,
      title: { text: data.title, anchor: 'start' },
      width: WIDTH,
      height: 40,
      data: { values: [{ message }] },
      mark: { type: 'text', fontSize: 14, color: '#666' },
      encoding: { text: { field: 'message' } },
    } as unknown as TopLevelSpec;
  }
  return {
    ...top,
    title: { text: data.title, subtitle: data.subtitle, anchor: 'start', fontSize: 16, offset: 18 },
    vconcat: panels,
    spacing: 28,
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
  } as unknown as TopLevelSpec;
}
