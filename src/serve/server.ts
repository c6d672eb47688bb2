/**
 * A small static server for the browser demo (`cyclegan serve`): the built page from `webRoot` and
 * a model export under `/model/`. It binds to the loopback interface, serves plain files only (no
 * directory listings) and refuses every path that would leave its two roots.
 *
 * `modelDir` may be an export folder (`cyclegan.json` with `"format": "cyclegan-generators"`) or a
 * training checkpoint (`"format": "cyclegan-checkpoint"` with `"generators"`); a checkpoint is shown
 * to the page as the export it would become: a synthesized `/model/cyclegan.json`, and only the
 * generator folders are reachable.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createReadStream, promises as fsp } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import type { AddressInfo } from 'node:net';
import { MANIFEST_FILE, onnxNotServed } from '../infer/manifest.ts';
import { readModelManifest } from '../infer/model-folder.ts';
import { ensureWebBuilt, PACKAGE_ROOT } from './build.ts';

export interface ServeOptions {
  /** Export folder or training checkpoint folder (both hold a `cyclegan.json`). */
  modelDir: string;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** The built page (`npm run build:web`); relative paths resolve against the package root. */
  webRoot?: string;
  /** Build the page into `webRoot` first when it is missing or out of date (what `cyclegan serve` does). */
  build?: boolean;
  /** Progress lines of a build. */
  log?: (line: string) => void;
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:8080/ */
  url: string;
  close(): Promise<void>;
}

const DEFAULT_WEB_ROOT = 'web/dist';

export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.bin': 'application/octet-stream',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Maps a URL path below a root to a file path, refusing anything that could escape it: `..`
 * segments (raw or percent-encoded), backslashes, NUL, and symlinks that resolve outside.
 */
async function resolveInside(root: string, urlPath: string): Promise<string> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    throw new HttpError(400, 'bad request');
  }
  if (decoded.includes('\0') || decoded.includes('\\')) throw new HttpError(403, 'forbidden');
  const parts = decoded.split('/').filter((p) => p.length > 0 && p !== '.');
  if (parts.some((p) => p === '..')) throw new HttpError(403, 'forbidden');
  const rootReal = await fsp.realpath(root);
  const candidate = resolve(rootReal, ...parts);
  if (candidate !== rootReal && !candidate.startsWith(rootReal + sep)) throw new HttpError(403, 'forbidden');
  let real: string;
  try {
    real = await fsp.realpath(candidate);
  } catch {
    throw new HttpError(404, 'not found');
  }
  if (real !== rootReal && !real.startsWith(rootReal + sep)) throw new HttpError(403, 'forbidden');
  return real;
}

async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, cache: string): Promise<void> {
  const stat = await fsp.stat(file).catch(() => null);
  if (!stat || !stat.isFile()) throw new HttpError(404, 'not found');
  res.writeHead(200, {
    'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': stat.size,
    'Cache-Control': cache,
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await new Promise<void>((resolveSend, reject) => {
    const stream = createReadStream(file);
    stream.on('error', reject);
    res.on('close', () => {
      stream.destroy();
      resolveSend();
    });
    stream.pipe(res);
  });
}

function sendText(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = Buffer.from(`${text}\n`);
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, ...extra });
  res.end(body);
}

/** Starts the demo server; resolves once it listens. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8080;
  const webRoot = resolve(PACKAGE_ROOT, options.webRoot ?? DEFAULT_WEB_ROOT);
  const modelDir = resolve(options.modelDir);

  const manifest = await readModelManifest(modelDir);
  if (manifest.engine === 'onnx') throw new Error(onnxNotServed(join(modelDir, MANIFEST_FILE)));
  if (options.build) await ensureWebBuilt(webRoot, options.log);
  const index = join(webRoot, 'index.html');
  if (!(await fsp.stat(index).catch(() => null))?.isFile()) {
    throw new Error(`the web app is not built (${index} is missing): run \`npm run build:web\` first`);
  }
  const manifestBody = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  // Only the generator folders are reachable under /model/ (a checkpoint also holds discriminators
  // and optimizer state, which the page has no business reading).
  const modelFolders = [
    ...new Set(
      Object.values(manifest.directions).map((p) => {
        const parts = p.split('/');
        return parts.slice(0, -1).join('/');
      }),
    ),
  ];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
      return;
    }
    const rawUrl = req.url ?? '/';
    if (!rawUrl.startsWith('/')) throw new HttpError(400, 'bad request');
    const pathname = rawUrl.split(/[?#]/, 1)[0]!;
    res.setHeader('X-Content-Type-Options', 'nosniff');

    if (pathname === '/model' || pathname.startsWith('/model/')) {
      const rest = pathname.slice('/model'.length);
      if (rest === '/cyclegan.json') {
        res.writeHead(200, {
          'Content-Type': CONTENT_TYPES['.json']!,
          'Content-Length': manifestBody.length,
          'Cache-Control': 'no-cache',
        });
        res.end(req.method === 'HEAD' ? undefined : manifestBody);
        return;
      }
      const file = await resolveInside(modelDir, rest);
      const relative = file
        .slice((await fsp.realpath(modelDir)).length + 1)
        .split(sep)
        .join('/');
      const allowed = modelFolders.some((folder) => (folder === '' ? !relative.includes('/') : relative.startsWith(`${folder}/`)));
      if (!allowed) throw new HttpError(404, 'not found');
      await sendFile(req, res, file, 'no-cache');
      return;
    }
    let file = await resolveInside(webRoot, pathname);
    const stat = await fsp.stat(file);
    if (stat.isDirectory()) {
      file = join(file, 'index.html');
      if (!(await fsp.stat(file).catch(() => null))?.isFile()) throw new HttpError(404, 'not found');
    }
    await sendFile(req, res, file, pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) sendText(res, err.status, err.message);
      else sendText(res, 500, 'internal error');
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new Error(`port ${port} on ${host} is already in use: choose another with --port`));
      else if (err.code === 'EACCES') reject(new Error(`no permission to listen on ${host}:${port}: choose a port above 1023`));
      else reject(err);
    });
    server.listen(port, host, () => {
      server.removeAllListeners('error');
      server.on('error', (err) => console.error(`cyclegan serve: ${err.message}`));
      resolveListen();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${urlHost}:${address.port}/`,
    close: () =>
      new Promise<void>((resolveClose, reject) => {
        server.close((err) => (err ? reject(err) : resolveClose()));
        server.closeAllConnections();
      }),
  };
}
