// Test harness for the browser tests: builds the site, runs our relay on
// free loopback ports serving it, launches Debian's Chromium through
// playwright-core (never a downloaded browser) and runs the stock CLIs.
import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { freePort, sha256File, randomFile } from './util.mjs';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = path.join(REPO, 'web/test/artifacts');
export const CHROMIUM = process.env.WASMHOLE_CHROMIUM || '/usr/bin/chromium';
export const GO = fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';
const run = promisify(execFile);

export { need, freePort, CLI, stopCLIs, sha256File, randomFile } from './util.mjs';

async function waitForPort(port, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
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
      const fresh =
        fs.existsSync(wasm) && (process.env.WASMHOLE_SKIP_BUILD || fs.statSync(wasm).mtimeMs > newestSource());
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
  const httpPort = opts.httpPort || (await freePort());
  const tcpPort = opts.tcpPort || (await freePort());
  const base = `127.0.0.1:${httpPort}`;
  const config = opts.config ?? { mailbox: '', transit: '', transitTCP: `127.0.0.1:${tcpPort}` };
  const site = await makeSite(config, opts.prefix);
  const bin = await buildRelay();
  const logPath = path.join(site.root, 'relay.log');
  const log = fs.openSync(logPath, 'a');
  // opts.db keeps the mailboxes in a file, so that a restart (below) finds them.
  const db = opts.db ? path.join(site.root, 'relay.sqlite') : ':memory:';
  let proc;
  let exited;
  const spawnRelay = async () => {
    proc = spawn(
      bin,
      [
        'serve',
        '--http',
        base,
        '--transit-tcp',
        `127.0.0.1:${tcpPort}`,
        '--db',
        db,
        '--site',
        site.root,
        '--admin-socket',
        path.join(site.root, 'admin.sock'),
        '--log-level',
        'warn',
        ...(opts.args || []),
      ],
      { stdio: ['ignore', log, log] },
    );
    exited = once(proc, 'exit');
    await Promise.race([
      waitForPort(httpPort),
      exited.then(() => {
        throw new Error(`relay exited: ${fs.readFileSync(logPath, 'utf8')}`);
      }),
    ]);
    await waitForPort(tcpPort);
  };
  await spawnRelay();
  return {
    http: base,
    tcp: `127.0.0.1:${tcpPort}`,
    mailboxURL: `ws://${base}/v1`,
    transitURL: `ws://${base}/transit`,
    pageURL: `http://${base}/${site.prefix}/`,
    site,
    log: () => fs.readFileSync(logPath, 'utf8'),
    /** SIGKILL, as a crash: nothing is flushed or closed. */
    async kill() {
      proc.kill('SIGKILL');
      await exited;
    },
    /** Starts the relay again on the same ports and database. */
    restart: spawnRelay,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
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
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(opts.args || []),
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
    if (process.env.WASMHOLE_DEBUG) console.log('[page]', m.type(), m.text());
  });
  return {
    context,
    page,
    errors,
    downloads,
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
  await page.waitForFunction(
    () => document.documentElement.dataset.ready === 'true' || !document.getElementById('boot').hidden,
    null,
    { timeout: 60000 },
  );
  const boot = await page.locator('#boot').textContent();
  if (boot) throw new Error(`page failed to start: ${boot}`);
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
  await run('/usr/bin/python3', [
    '-c',
    'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])',
    zipPath,
    dest,
  ]);
}
