/**
 * The browser demo: pick an image, translate it with the exported generator, download the result.
 * Translation goes through the same `translateImage` as the Node CLI, so both give the same pixels.
 */
import './style.css';
import * as tf from '@tensorflow/tfjs';
import { floatToRgba, translateImage } from 'cyclegan/web';
import { describeBackend, initBackend, type BrowserBackend } from './backend.ts';
import { DIRECTIONS, disposeModel, loadModelFromFiles, loadServedModel, UserError, type Direction, type LoadedModel } from './model.ts';

/** Images are scaled down to this many pixels on their long side before translation. */
const MAX_SIDE = 1024;

/** State the end-to-end test reads (and anyone poking at the page from the console). */
export interface PageState {
  /** Backend running and a model loaded. */
  ready: boolean;
  busy: boolean;
  backend: string | null;
  model: { source: string; directions: Direction[]; generator?: string; size?: number } | null;
  /** Completed translations so far. */
  translations: number;
  lastTimeMs: number | null;
  /** The last result, RGBA bytes row-major. */
  lastOutput: { width: number; height: number; direction: Direction; data: number[] } | null;
  /** The last input after any downscaling, RGBA bytes row-major. */
  lastInput: { width: number; height: number; scaledFrom: [number, number] | null } | null;
  error: string | null;
}

declare global {
  interface Window {
    __cyclegan: PageState;
  }
}

const state: PageState = {
  ready: false,
  busy: false,
  backend: null,
  model: null,
  translations: 0,
  lastTimeMs: null,
  lastOutput: null,
  lastInput: null,
  error: null,
};
window.__cyclegan = state;

function el<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`page is missing #${id}`);
  return found as T;
}

const ui = {
  file: el<HTMLInputElement>('file'),
  modelFiles: el<HTMLInputElement>('model-files'),
  direction: el<HTMLSelectElement>('direction'),
  download: el<HTMLButtonElement>('download'),
  status: el<HTMLParagraphElement>('status'),
  modelInfo: el<HTMLParagraphElement>('model-info'),
  notice: el<HTMLParagraphElement>('notice'),
  error: el<HTMLParagraphElement>('error'),
  drop: el<HTMLElement>('drop'),
  input: el<HTMLCanvasElement>('input'),
  output: el<HTMLCanvasElement>('output'),
  inputSize: el<HTMLSpanElement>('input-size'),
  outputSize: el<HTMLSpanElement>('output-size'),
  inputPlaceholder: el<HTMLParagraphElement>('input-placeholder'),
  outputPlaceholder: el<HTMLParagraphElement>('output-placeholder'),
  backendInfo: el<HTMLSpanElement>('backend-info'),
};

let backend: BrowserBackend | null = null;
let loaded: LoadedModel | null = null;
let image: { data: ImageData; name: string } | null = null;

function setStatus(text: string): void {
  ui.status.textContent = backend ? `${backend} · ${text}` : text;
}

function showError(err: unknown): void {
  const message = err instanceof UserError ? err.message : err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  if (!(err instanceof UserError)) console.error(err);
  state.error = message;
  ui.error.textContent = message;
  ui.error.hidden = false;
}

function clearError(): void {
  state.error = null;
  ui.error.textContent = '';
  ui.error.hidden = true;
}

function showNotice(text: string | null): void {
  ui.notice.textContent = text ?? '';
  ui.notice.hidden = text == null;
}

function domainName(letter: 'A' | 'B'): string {
  return loaded?.manifest.domains?.[letter] ?? letter;
}

function directionLabel(d: Direction): string {
  const [from, to] = d === 'AtoB' ? (['A', 'B'] as const) : (['B', 'A'] as const);
  return `${domainName(from)} → ${domainName(to)}`;
}

/** Shows a canvas at a readable size: small images are enlarged by a whole factor, crisply. */
function sizeCanvas(canvas: HTMLCanvasElement, width: number, height: number): void {
  canvas.width = width;
  canvas.height = height;
  const long = Math.max(width, height);
  const factor = long < 320 ? Math.max(1, Math.floor(320 / long)) : 1;
  canvas.style.width = `${width * factor}px`;
  canvas.classList.toggle('upscaled', factor > 1);
}

function setModel(model: LoadedModel): void {
  disposeModel(loaded);
  loaded = model;
  const directions = DIRECTIONS.filter((d) => model.generators[d]);
  const previous = ui.direction.value as Direction;
  ui.direction.replaceChildren(
    ...directions.map((d) => {
      const option = document.createElement('option');
      option.value = d;
      option.textContent = directionLabel(d);
      return option;
    }),
  );
  if (directions.includes(previous)) ui.direction.value = previous;
  ui.direction.disabled = directions.length < 2;
  const m = model.manifest;
  const details = [m.generator, m.size ? `trained at ${m.size} px` : null].filter(Boolean).join(', ');
  ui.modelInfo.textContent = `Model: ${model.source}${details ? ` (${details})` : ''} — ${directions.map(directionLabel).join(', ')}`;
  state.model = { source: model.source, directions, generator: m.generator, size: m.size };
  state.ready = backend != null;
}

/** Decodes an image file into RGBA pixels, scaled so its long side is at most MAX_SIDE. */
async function decodeImage(file: File): Promise<{ data: ImageData; scaledFrom: [number, number] | null }> {
  let bitmap: ImageBitmap;
  try {
    // No colour management: the pixels must be the file's own, as in Node.
    bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new UserError(`“${file.name}” is not an image this browser can read (try a PNG, JPEG or WebP file).`);
  }
  try {
    const { width, height } = bitmap;
    if (width === 0 || height === 0) throw new UserError(`“${file.name}” is an empty image.`);
    const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
    const w = Math.max(1, Math.round(width * scale));
    const h = Math.max(1, Math.round(height * scale));
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new Error('no 2D canvas context');
    // Transparent areas become white rather than black.
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, w, h);
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(bitmap, 0, 0, w, h);
    return { data: ctx.getImageData(0, 0, w, h), scaledFrom: scale < 1 ? [width, height] : null };
  } finally {
    bitmap.close();
  }
}

async function openImage(file: File): Promise<void> {
  clearError();
  const { data, scaledFrom } = await decodeImage(file);
  image = { data, name: file.name.replace(/\.[^.]*$/, '') || 'image' };
  showNotice(
    scaledFrom
      ? `The image is ${scaledFrom[0]}×${scaledFrom[1]} px; it was scaled down to ${data.width}×${data.height} px (the demo translates at most ${MAX_SIDE} px on the long side).`
      : null,
  );
  sizeCanvas(ui.input, data.width, data.height);
  ui.input.getContext('2d')!.putImageData(data, 0, 0);
  ui.inputSize.textContent = `${data.width}×${data.height}`;
  ui.inputPlaceholder.hidden = true;
  state.lastInput = { width: data.width, height: data.height, scaledFrom };
  await translate();
}

let queue: Promise<void> = Promise.resolve();

/** Translates the current image in the chosen direction (runs one at a time, in order). */
function translate(): Promise<void> {
  const run = async (): Promise<void> => {
    if (!image || !loaded || !backend) return;
    const direction = ui.direction.value as Direction;
    const generator = loaded.generators[direction];
    if (!generator) return;
    const { data } = image;
    state.busy = true;
    setStatus(`translating ${data.width}×${data.height} ${directionLabel(direction)}…`);
    // Let the status paint before the (blocking) work starts.
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    try {
      const start = performance.now();
      const result = tf.tidy(() => {
        const x = tf.browser.fromPixels(data, 3).toFloat().div(127.5).sub(1) as tf.Tensor3D;
        return translateImage(generator.model, x, generator.geometry);
      });
      let values: Float32Array;
      try {
        values = (await result.data()) as Float32Array;
      } finally {
        result.dispose();
      }
      const ms = performance.now() - start;
      const [h, w] = result.shape;
      const rgba = floatToRgba(values, w, h);
      sizeCanvas(ui.output, w, h);
      ui.output.getContext('2d')!.putImageData(new ImageData(rgba, w, h), 0, 0);
      ui.outputSize.textContent = `${w}×${h}`;
      ui.outputPlaceholder.hidden = true;
      ui.download.disabled = false;
      state.lastTimeMs = ms;
      state.lastOutput = { width: w, height: h, direction, data: Array.from(rgba) };
      state.translations += 1;
      setStatus(`${Math.round(ms)} ms`);
    } catch (err) {
      setStatus('translation failed');
      throw err;
    } finally {
      state.busy = false;
    }
  };
  queue = queue.then(run).catch(showError);
  return queue;
}

function download(): void {
  if (!image || !state.lastOutput) return;
  const direction = state.lastOutput.direction;
  const suffix = directionLabel(direction)
    .replace(/\s*→\s*/, '2')
    .replace(/[^\w-]+/g, '_');
  ui.output.toBlob((blob) => {
    if (!blob) return showError(new UserError('The browser could not encode the PNG.'));
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${image!.name}-${suffix}.png`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }, 'image/png');
}

function wire(): void {
  ui.file.addEventListener('change', () => {
    const file = ui.file.files?.[0];
    if (file) openImage(file).catch(showError);
    ui.file.value = '';
  });
  ui.modelFiles.addEventListener('change', () => {
    const files = ui.modelFiles.files;
    if (!files || files.length === 0) return;
    clearError();
    setStatus('loading model…');
    const picked = Array.from(files);
    ui.modelFiles.value = '';
    loadModelFromFiles(picked)
      .then((model) => {
        setModel(model);
        setStatus('model loaded');
        return translate();
      })
      .catch((err: unknown) => {
        setStatus(loaded ? 'kept the previous model' : 'no model loaded');
        showError(err);
      });
  });
  ui.direction.addEventListener('change', () => void translate());
  ui.download.addEventListener('click', download);
  // Drag and drop anywhere on the panels.
  ui.drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    ui.drop.classList.add('dragging');
  });
  ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('dragging'));
  ui.drop.addEventListener('drop', (e) => {
    e.preventDefault();
    ui.drop.classList.remove('dragging');
    const file = e.dataTransfer?.files[0];
    if (file) openImage(file).catch(showError);
  });
}

async function main(): Promise<void> {
  wire();
  const params = new URLSearchParams(location.search);
  setStatus('starting TensorFlow.js…');
  backend = await initBackend(params.get('backend'));
  state.backend = backend;
  ui.backendInfo.textContent = `TensorFlow.js ${tf.version.tfjs} on ${await describeBackend(backend)}`;
  setStatus('loading model…');
  const model = await loadServedModel(params.get('model') ?? './model/cyclegan.json');
  if (model) {
    setModel(model);
    setStatus('ready');
  } else {
    setStatus('no model');
    ui.modelInfo.textContent = 'No model is served here: start the page with `cyclegan serve --model DIR`, or load a model folder.';
  }
}

main().catch((err: unknown) => {
  setStatus('failed to start');
  showError(err);
});
