/** What the exactness tests compare: everything a resume restores, and the log without its clocks. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';

export const TIMING_FIELDS = ['seconds', 'cpuSeconds', 'wallSeconds'];

export const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Everything a resume restores, from a run's latest checkpoint: float arrays as raw bytes, the rest as JSON. */
export async function runState(runDir: string, options: { config?: boolean } = {}): Promise<Map<string, Buffer | string>> {
  const ckpt = await loadCheckpoint(runDir);
  const out = new Map<string, Buffer | string>();
  try {
    for (const [net, model] of Object.entries(ckpt.models)) {
      model.getWeights().forEach((w, i) => out.set(`${net} weight ${i} [${w.shape}]`, bytes(w.dataSync() as Float32Array)));
    }
  } finally {
    for (const model of Object.values(ckpt.models)) model.dispose();
  }
  for (const [net, state] of Object.entries(ckpt.optimizerStates)) {
    out.set(`${net} adam step`, String(state.step));
    state.moments.forEach((m, i) => out.set(`${net} adam moment ${i}`, bytes(m)));
  }
  for (const [label, pool] of Object.entries(ckpt.pools)) {
    out.set(`pool ${label} shape`, JSON.stringify(pool.shape));
    pool.images.forEach((img, i) => out.set(`pool ${label} image ${i}`, bytes(img)));
  }
  // Where the run stands: epoch, step, RNG, pipeline position, running sums (not the data path or the clock).
  const { data: _data, compute: _compute, ...position } = ckpt.meta.position;
  out.set('position', JSON.stringify(position));
  if (options.config) out.set('config', JSON.stringify(ckpt.meta.config));
  return out;
}

export function assertSameState(expected: Map<string, Buffer | string>, actual: Map<string, Buffer | string>): void {
  assert.deepEqual([...actual.keys()], [...expected.keys()], 'the same state entries');
  for (const [name, want] of expected) {
    const got = actual.get(name)!;
    if (typeof want === 'string') {
      assert.equal(got, want, `${name} differs`);
      continue;
    }
    if (want.equals(got as Buffer)) continue;
    const [w, g] = [new Float32Array(new Uint8Array(want).buffer), new Float32Array(new Uint8Array(got as Buffer).buffer)];
    const at = w.findIndex((v, i) => !Object.is(v, g[i]));
    assert.fail(`${name} differs (${w.length} vs ${g.length} values; first at ${at}: ${w[at]} vs ${g[at]})`);
  }
}

/** log.jsonl lines without the timing fields ([] when there is no log yet); throws on a torn line. */
export async function logLines(runDir: string): Promise<Record<string, number>[]> {
  const text = await readFile(join(runDir, 'log.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) =>
      Object.fromEntries(Object.entries(JSON.parse(line) as Record<string, number>).filter(([k]) => !TIMING_FIELDS.includes(k))),
    );
}
