/**
 * The CLI's terminal progress bars (cli-progress, on stderr). The library reports progress through
 * callbacks only (downloadDataset's and train()'s onProgress); drawing it is the CLI's business.
 */
import cliProgress from 'cli-progress';
import type { DownloadProgress } from '../data/download.ts';
import type { TrainProgress } from '../train/loop.ts';

export interface DownloadBar {
  /** downloadDataset's / resolveData's onProgress. */
  onProgress: (p: DownloadProgress) => void;
  /** Ends the bar (if it was started); safe to call more than once. */
  stop: () => void;
}

/** A bar for a dataset download: percentage, MB received of MB in all, ETA. Drawn from the first report on. */
export function downloadBar(label: string): DownloadBar {
  const mb = (n: number) => (n / 1048576).toFixed(1);
  let bar: cliProgress.SingleBar | undefined;
  return {
    onProgress: ({ received, total }) => {
      if (!bar) {
        bar = new cliProgress.SingleBar(
          {
            format: `${label} [{bar}] {percentage}% {rx}/{tx} MB {eta_formatted}`,
            stream: process.stderr,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total ?? 0, 0, { rx: mb(0), tx: total ? mb(total) : '?' });
      }
      if (total && bar.getTotal() !== total) bar.setTotal(total);
      bar.update(received, { rx: mb(received), tx: total ? mb(total) : '?' });
    },
    stop: () => bar?.stop(),
  };
}

export interface CountBar {
  /** Sets the count done (and the total, the first time); `item` is shown after the count. */
  update: (done: number, total: number, item?: string) => void;
  /** Ends the bar (if it was started); safe to call more than once. */
  stop: () => void;
}

/** A bar over a count of items (`label |bar| done/total · item`), a line every 5 s off a terminal. */
export function countBar(label: string): CountBar {
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} |{bar}| {value}/{total} · {item}`,
      stream: process.stderr,
      noTTYOutput: !process.stderr.isTTY,
      notTTYSchedule: 5000,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: (done, total, item = '') => {
      if (!started) {
        bar.start(total, done, { item });
        started = true;
      } else bar.update(done, { item });
    },
    stop: () => {
      if (started) bar.stop();
      started = false;
    },
  };
}

export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

export interface TrainingBar {
  /** Draws train()'s progress report; a new epoch starts a new bar. `losses` is the text shown after the ETA. */
  update: (p: TrainProgress, losses: string) => void;
  /** Ends the current bar (before printing a line); the next update starts a new one. Safe to call more than once. */
  stop: () => void;
}

/**
 * One bar per epoch: `epoch E/N |bar| step/steps · rate it/s · ETA (whole run) · losses`. Redrawn
 * in place on a terminal; elsewhere (a log file, a pipe) a line every 10 s.
 */
export function trainingBar(): TrainingBar {
  const interactive = process.stderr.isTTY === true;
  const bar = new cliProgress.SingleBar(
    {
      format: 'epoch {epochLabel} |{bar}| {value}/{total} · {rate} it/s · ETA {eta_run} · {losses}',
      hideCursor: interactive,
      noTTYOutput: !interactive,
      notTTYSchedule: 10_000,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let barEpoch = -1;
  return {
    update: (p, losses) => {
      const fields = {
        epochLabel: `${p.epoch + 1}/${p.epochs}`,
        rate: p.rate.toFixed(2),
        eta_run: formatEta(p.etaSeconds),
        losses,
      };
      if (p.epoch !== barEpoch) {
        if (barEpoch >= 0) bar.stop();
        bar.start(p.stepsPerEpoch, p.stepInEpoch, fields);
        barEpoch = p.epoch;
      } else bar.update(p.stepInEpoch, fields);
    },
    stop: () => {
      bar.stop();
      barEpoch = -1;
    },
  };
}
