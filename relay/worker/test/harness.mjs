// Test harness for the Cloudflare Worker relay: builds it, runs it under
// `wrangler dev` on 127.0.0.1 (fully local: no login, no metrics, no
// Request.cf download), runs our native relay as the TCP transit relay the
// Worker bridges to, and runs the stock Python CLI and our Go test peer.
import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../../../web/test/util.mjs';

export const WORKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(WORKER, '../..');
const GO = fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';
const WRANGLER = path.join(WORKER, 'node_modules/wrangler/bin/wrangler.js');
const run = promisify(execFile);
const debug = !!process.env.WASMHOLE_DEBUG;

export { need, freePort, sha256File, randomFile, CLI as Proc } from '../../../web/test/util.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function tmpdir(prefix = 'wasmhole-worker-') {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

let built = null;
/** Runs scripts/build-worker.sh once per test process. */
export function buildWorker() {
  built ??= run(path.join(REPO, 'scripts/build-worker.sh'), [], { cwd: REPO, maxBuffer: 1 << 24 }).then(
    ({ stdout }) => stdout,
  );
  return built;
}

const goBuilds = new Map();
let binDir = null;
/** Builds a Go main package of this repository once; returns the binary. */
export function goBuild(pkg) {
  if (!binDir) {
    binDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmhole-worker-bin-'));
    process.on('exit', () => fs.rmSync(binDir, { recursive: true, force: true }));
  }
  if (!goBuilds.has(pkg)) {
    const out = path.join(binDir, path.basename(pkg));
    goBuilds.set(
      pkg,
      run(GO, ['build', '-trimpath', '-o', out, pkg], { cwd: REPO, maxBuffer: 1 << 24 }).then(() => out),
    );
  }
  return goBuilds.get(pkg);
}

/** The environment for wrangler: offline, no account, no telemetry. */
function wranglerEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('CLOUDFLARE_') && !k.startsWith('CF_') && !k.startsWith('WRANGLER_')) env[k] = v;
  }
  env.WRANGLER_SEND_METRICS = 'false';
  env.CLOUDFLARE_CF_FETCH_ENABLED = 'false'; // no Request.cf download
  env.NO_COLOR = '1';
  return env;
}

/**
 * Starts `wrangler dev` for the Worker on 127.0.0.1. opts: port, persist
 * (a --persist-to folder, kept across restarts), upstream (TRANSIT_UPSTREAM),
 * vars. Resolves once GET / answers. stop() ends the whole process group;
 * kill() does it with SIGKILL, like a crash.
 */
export async function startWorker(opts = {}) {
  await buildWorker();
  const port = opts.port || (await freePort());
  const persist = opts.persist || (await tmpdir('wasmhole-worker-state-'));
  const args = [
    WRANGLER,
    'dev',
    '--local',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--persist-to',
    persist,
    '--show-interactive-dev-session=false',
    '--log-level',
    'log',
  ];
  const vars = { TRANSIT_UPSTREAM: opts.upstream || '', ...(opts.vars || {}) };
  for (const [k, v] of Object.entries(vars)) args.push('--var', `${k}:${v}`);
  // Its own process group, so stopping it also stops workerd.
  const proc = spawn(process.execPath, args, {
    cwd: WORKER,
    env: wranglerEnv(),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const onData = (d) => {
    log += d.toString();
    if (debug) process.stderr.write(`[wrangler] ${d}`);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  let done = false;
  exited.then(() => {
    done = true;
  });
  const deadline = Date.now() + 120000;
  for (;;) {
    if (done) throw new Error(`wrangler dev exited:\n${log}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      if ((await res.text()) === 'Wormhole Relay\n') break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`wrangler dev did not come up:\n${log}`);
    await sleep(200);
  }
  const signal = async (sig) => {
    if (done) return;
    try {
      process.kill(-proc.pid, sig);
    } catch {
      /* gone */
    }
    await Promise.race([exited, sleep(5000)]);
    if (!done) {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await exited;
    }
    // The port is free again once workerd is gone.
    for (let i = 0; i < 50 && (await portOpen(port)); i++) await sleep(100);
  };
  return {
    port,
    persist,
    mailboxURL: `ws://127.0.0.1:${port}/v1`,
    transitURL: `ws://127.0.0.1:${port}/transit`,
    log: () => log,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
  };
}

/**
 * Transit usage lines the Worker logged ({transit: "usage", mood, bytes,
 * ...}), one per finished /transit connection.
 */
export function transitUsage(worker) {
  const out = [];
  for (const line of worker.log().split('\n')) {
    const i = line.indexOf('{"bytes"');
    if (i < 0) continue;
    try {
      const u = JSON.parse(line.slice(i));
      if (u.transit === 'usage') out.push(u);
    } catch {
      /* not ours */
    }
  }
  return out;
}

/**
 * Starts our native relay (go build ./relay) as the TCP transit relay on a
 * free port; its mailbox listens too but the tests use the Worker's.
 */
export async function startNativeRelay() {
  const bin = await goBuild('./relay');
  const dir = await tmpdir('wasmhole-native-relay-');
  const httpPort = await freePort();
  const tcpPort = await freePort();
  const logPath = path.join(dir, 'relay.log');
  const logFd = fs.openSync(logPath, 'w');
  const proc = spawn(
    bin,
    [
      'serve',
      '--http',
      `127.0.0.1:${httpPort}`,
      '--transit-tcp',
      `127.0.0.1:${tcpPort}`,
      '--db',
      ':memory:',
      '--admin-socket',
      path.join(dir, 'admin.sock'),
      '--log-level',
      'info',
    ],
    { stdio: ['ignore', logFd, logFd] },
  );
  fs.closeSync(logFd);
  const exited = once(proc, 'exit');
  const deadline = Date.now() + 30000;
  while (!(await portOpen(tcpPort))) {
    if (proc.exitCode !== null) throw new Error(`relay exited: ${fs.readFileSync(logPath, 'utf8')}`);
    if (Date.now() > deadline) throw new Error('native relay did not open its TCP port');
    await sleep(100);
  }
  return {
    tcp: `127.0.0.1:${tcpPort}`,
    log: () => fs.readFileSync(logPath, 'utf8'),
    async stop() {
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A WebSocket client that collects messages; next() resolves to the next
 * one ({text: true, data: string} or {text: false, data: Uint8Array}).
 */
export class WS {
  static async open(url) {
    const w = new WS(url);
    await w.opened;
    return w;
  }

  constructor(url) {
    this.queue = [];
    this.waiters = [];
    this.closed = null;
    this.ws = new WebSocket(url);
    this.ws.binaryType = 'arraybuffer';
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = resolve;
      this.ws.onerror = () => reject(new Error(`WebSocket ${url} failed`));
    });
    this.ws.onmessage = (ev) => {
      const m =
        typeof ev.data === 'string' ? { text: true, data: ev.data } : { text: false, data: new Uint8Array(ev.data) };
      const w = this.waiters.shift();
      if (w) w.resolve(m);
      else this.queue.push(m);
    };
    this.ws.onclose = (ev) => {
      this.closed = { code: ev.code, reason: ev.reason };
      for (const w of this.waiters.splice(0)) w.resolve(null);
    };
  }

  send(x) {
    this.ws.send(typeof x === 'string' || x instanceof Uint8Array ? x : JSON.stringify(x));
  }

  /** The next message, or null once closed. */
  next(ms = 10000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no message in ${ms} ms`)), ms);
      this.waiters.push({
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
      });
    });
  }

  /** Skips messages until one of JSON type typ (mailbox) arrives. */
  async expect(typ, ms = 10000) {
    for (;;) {
      const m = await this.next(ms);
      if (!m) throw new Error(`closed while waiting for ${typ}: ${JSON.stringify(this.closed)}`);
      if (!m.text) throw new Error(`binary mailbox frame while waiting for ${typ}`);
      const msg = JSON.parse(m.data);
      if (msg.type === typ) return msg;
      if (msg.type === 'error') throw new Error(`error while waiting for ${typ}: ${m.data}`);
    }
  }

  async waitClosed(ms = 10000) {
    const end = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > end) throw new Error('still open');
      await this.next(ms).catch(() => null);
    }
    return this.closed;
  }

  close() {
    try {
      this.ws.close();
    } catch {
      /* closed */
    }
  }
}

/**
 * Waits until the Worker has logged usage lines (after the first skip)
 * for which pred holds, and returns them; the log trails the close a bit.
 */
export async function waitUsage(worker, skip, pred, want = 1, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const got = transitUsage(worker).slice(skip).filter(pred);
    if (got.length >= want || Date.now() > end) return got;
    await sleep(100);
  }
}
