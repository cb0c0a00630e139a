// Test harness for the browser tests: builds the site, runs our relay on
// free loopback ports serving it, launches Debian's Chromium through
// playwright-core (never a downloaded browser) and runs the stock CLIs.
import { spawn, execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = path.join(REPO, 'web/test/artifacts');
export const CHROMIUM = process.env.WASMHOLE_CHROMIUM || '/usr/bin/chromium';
const GO = fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';
const run = promisify(execFile);

/** Missing programs skip locally and fail in CI (TEAM-RULES). */
export function need(t, ...programs) {
  for (const p of programs) {
    const found = p.startsWith('/') ? fs.existsSync(p)
      : (process.env.PATH || '').split(':').some((d) => fs.existsSync(path.join(d, p)));
    if (!found) {
      if (process.env.CI) throw new Error(`required program ${p} is not installed`);
      t.skip(`${p} not installed`);
      return false;
    }
  }
  return true;
}

export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

async function waitForPort(port, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`port ${port} did not open`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// newestSource is the latest mtime of what goes into dist/.
function newestSource() {
  let newest = 0;
  const walk = (p) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(p)) if (e !== 'node_modules' && e !== 'test') walk(path.join(p, e));
    } else if (/\.(go|js|css|html|json|svg|md)$/.test(p)) {
      newest = Math.max(newest, st.mtimeMs);
    }
  };
  for (const d of ['wasm', 'web', 'core', 'index.html', 'go.mod']) walk(path.join(REPO, d));
  return newest;
}

let built = null;
/**
 * Builds dist/ once per test process (scripts/build-web.sh) unless it is
 * newer than every source file (scripts/test.sh has just built it), or
 * WASMHOLE_SKIP_BUILD is set and a build exists.
 */
export async function buildSite() {
  if (!built) {
    built = (async () => {
      const dist = path.join(REPO, 'dist');
      const wasm = path.join(dist, 'web/wasmhole.wasm');
      const fresh = fs.existsSync(wasm)
        && (process.env.WASMHOLE_SKIP_BUILD || fs.statSync(wasm).mtimeMs > newestSource());
      if (!fresh) await run(path.join(REPO, 'scripts/build-web.sh'), [dist], { cwd: REPO, maxBuffer: 1 << 24 });
      return dist;
    })();
  }
  return built;
}

let relayBin = null;
async function buildRelay() {
  if (!relayBin) {
    relayBin = (async () => {
      const out = path.join(os.tmpdir(), `wasmhole-relay-${process.pid}`);
      await run(GO, ['build', '-trimpath', '-o', out, './relay'], { cwd: REPO, maxBuffer: 1 << 24 });
      return out;
    })();
  }
  return relayBin;
}

/**
 * Copies the built site into a fresh folder below a path prefix (the site
 * must work from any path) and writes its config.json.
 */
export async function makeSite(config, prefix = 'some/deep/path') {
  const dist = await buildSite();
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'wasmhole-site-'));
  const dir = path.join(root, prefix);
  await fsp.mkdir(path.dirname(dir), { recursive: true });
  await fsp.cp(dist, dir, { recursive: true });
  await fsp.writeFile(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return { root, dir, prefix };
}

/**
 * Starts our relay (mailbox + transit TCP + /transit WebSocket + the site)
 * on free ports. Returns {http, tcp, mailboxURL, transitURL, pageURL, stop}.
 */
export async function startRelay(opts = {}) {
  const httpPort = await freePort();
  const tcpPort = opts.tcpPort || await freePort();
  const base = `127.0.0.1:${httpPort}`;
  const config = opts.config ?? { mailbox: '', transit: '', transitTCP: `127.0.0.1:${tcpPort}` };
  const site = await makeSite(config, opts.prefix);
  const bin = await buildRelay();
  const logPath = path.join(site.root, 'relay.log');
  const log = fs.openSync(logPath, 'w');
  const proc = spawn(bin, ['serve', '--http', base, '--transit-tcp', `127.0.0.1:${tcpPort}`,
    '--db', ':memory:', '--site', site.root, '--admin-socket', path.join(site.root, 'admin.sock'),
    '--log-level', 'warn', ...(opts.args || [])], { stdio: ['ignore', log, log] });
  const exited = once(proc, 'exit');
  await Promise.race([waitForPort(httpPort), exited.then(() => {
    throw new Error(`relay exited: ${fs.readFileSync(logPath, 'utf8')}`);
  })]);
  await waitForPort(tcpPort);
  return {
    http: base,
    tcp: `127.0.0.1:${tcpPort}`,
    mailboxURL: `ws://${base}/v1`,
    transitURL: `ws://${base}/transit`,
    pageURL: `http://${base}/${site.prefix}/`,
    site,
    log: () => fs.readFileSync(logPath, 'utf8'),
    async stop() {
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await fsp.rm(site.root, { recursive: true, force: true });
    },
  };
}

/** Launches Chromium with the CI flags and a fresh profile. */
export async function launch(opts = {}) {
  const profile = await fsp.mkdtemp(path.join(os.tmpdir(), 'wasmhole-chromium-'));
  const downloads = await fsp.mkdtemp(path.join(os.tmpdir(), 'wasmhole-downloads-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    downloadsPath: downloads,
    viewport: opts.viewport || { width: 1100, height: 900 },
    colorScheme: opts.colorScheme || 'light',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...(opts.args || [])],
  });
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
    if (process.env.WASMHOLE_DEBUG) console.log('[page]', m.type(), m.text());
  });
  return {
    context, page, errors, downloads,
    async close() {
      await context.close().catch(() => {});
      await fsp.rm(profile, { recursive: true, force: true });
      await fsp.rm(downloads, { recursive: true, force: true });
    },
  };
}

/** Opens the page and waits until the wasm is running. */
export async function openPage(page, url) {
  await page.goto(url);
  await page.waitForFunction(() => document.documentElement.dataset.ready === 'true'
    || !document.getElementById('boot').hidden, null, { timeout: 60000 });
  const boot = await page.locator('#boot').textContent();
  if (boot) throw new Error(`page failed to start: ${boot}`);
}

/** A running CLI with its combined output. */
export class CLI {
  constructor(cmd, args, opts = {}) {
    this.cmd = cmd;
    this.args = args;
    this.out = '';
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('WORMHOLE_')) delete env[k];
    this.proc = spawn(cmd, args, { cwd: opts.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    if (opts.stdin !== undefined) this.proc.stdin.end(opts.stdin);
    const onData = (d) => {
      this.out += d.toString();
      if (process.env.WASMHOLE_DEBUG) process.stderr.write(`[${path.basename(cmd)}] ${d}`);
    };
    this.proc.stdout.on('data', onData);
    this.proc.stderr.on('data', onData);
    this.exit = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve({ code, sig })));
  }

  /** Waits for "Wormhole code is: X". */
  async code(ms = 60000) {
    const end = Date.now() + ms;
    for (;;) {
      const m = this.out.match(/Wormhole code is: (\S+)/);
      if (m) return m[1];
      if (this.proc.exitCode !== null) throw new Error(`${this.cmd} exited: ${this.out}`);
      if (Date.now() > end) throw new Error(`${this.cmd} printed no code: ${this.out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async wait(ms = 600000) {
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), ms);
    const r = await this.exit;
    clearTimeout(timer);
    return r;
  }

  kill(sig = 'SIGTERM') { if (this.proc.exitCode === null) this.proc.kill(sig); }
}

export async function sha256File(p) {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(p)) h.update(chunk);
  return h.digest('hex');
}

/** Writes size random bytes to p, returns their sha256. */
export async function randomFile(p, size) {
  await fsp.mkdir(path.dirname(p), { recursive: true });
  const h = createHash('sha256');
  const fd = await fsp.open(p, 'w');
  let left = size;
  while (left > 0) {
    const n = Math.min(left, 4 << 20);
    const b = randomBytes(n);
    h.update(b);
    await fd.write(b);
    left -= n;
  }
  await fd.close();
  return h.digest('hex');
}

/** Relative path -> sha256 ("dir" for folders) for a whole tree. */
export async function treeManifest(dir) {
  const out = {};
  async function walk(d, rel) {
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out[r] = 'dir';
        await walk(path.join(d, e.name), r);
      } else {
        out[r] = await sha256File(path.join(d, e.name));
      }
    }
  }
  await walk(dir, '');
  return out;
}

/** The acceptance test folder: nested folders, unicode names, empty file and folder. */
export async function makeTree(dir) {
  const files = {
    'top.txt': 1234,
    'empty.bin': 0,
    'sub/inner.dat': 70000,
    'sub/deeper/deepest.bin': 333,
    'ünïcödé/résumé €.txt': 4096,
    '日本語/ファイル.txt': 77,
  };
  for (const [name, size] of Object.entries(files)) await randomFile(path.join(dir, name), size);
  await fsp.mkdir(path.join(dir, 'empty-folder'), { recursive: true });
  return treeManifest(dir);
}

export async function tmpdir(name = 'wasmhole-test-') {
  return fsp.mkdtemp(path.join(os.tmpdir(), name));
}

export async function screenshot(page, name) {
  await fsp.mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Unzips with Python's zipfile (independent of our Go unpacker). */
export async function unzip(zipPath, dest) {
  await run('/usr/bin/python3', ['-c',
    'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', zipPath, dest]);
}
