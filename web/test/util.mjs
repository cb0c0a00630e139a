// Helpers shared by the browser tests (web/test) and the Worker relay
// tests (relay/worker/test). Node built-ins only: the Worker tests import
// this without installing web/test's dependencies.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

/** Missing programs skip locally and fail in CI (CONTRIBUTING.md). */
export function need(t, ...programs) {
  for (const p of programs) {
    const found = p.startsWith('/')
      ? fs.existsSync(p)
      : (process.env.PATH || '').split(':').some((d) => fs.existsSync(path.join(d, p)));
    if (!found) {
      if (process.env.CI) throw new Error(`required program ${p} is not installed`);
      t.skip(`${p} not installed`);
      return false;
    }
  }
  return true;
}

/**
 * The directory holding the reference peers' peers/ (install.sh,
 * netns-run.sh, upstream/...): $WASMHOLE_SHARED, by default ../shared beside
 * the checkout. The Go tests (internal/peers) and scripts/shared.sh read the
 * same variable.
 */
export function sharedDir() {
  if (process.env.WASMHOLE_SHARED) return process.env.WASMHOLE_SHARED;
  return path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..', 'shared');
}

/**
 * The path of rel below sharedDir()/peers (e.g. 'upstream/wormhole'), or
 * null after skipping t (throwing in CI) with a message that says what is
 * missing and how to point the tests at it.
 */
export function sharedPeer(t, rel) {
  const p = path.join(sharedDir(), 'peers', rel);
  if (fs.existsSync(p)) return p;
  const how = process.env.WASMHOLE_SHARED
    ? `WASMHOLE_SHARED=${process.env.WASMHOLE_SHARED} does not hold it`
    : 'put the peers directory at ../shared/peers beside the checkout, or set WASMHOLE_SHARED to the directory that holds peers/';
  const msg = `the reference peers' ${rel} is missing (${p}): ${how}`;
  if (process.env.CI) throw new Error(msg);
  t.skip(msg);
  return null;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
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

/** The CLIs still running, for stopCLIs. */
const running = new Set();

/**
 * Kills every CLI still running. A test file calls it in its last after
 * hook: a test that failed while a CLI waited for its peer would otherwise
 * leave it holding the test process open until the runner's timeout.
 */
export function stopCLIs() {
  for (const c of running) c.stop();
}

/**
 * A running program (a stock CLI, a test peer) with its combined output.
 * opts: cwd, stdin (a string written then closed).
 */
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
    running.add(this);
    this.exit = new Promise((resolve) =>
      this.proc.on('exit', (code, sig) => {
        running.delete(this);
        resolve({ code, sig });
      }),
    );
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

  kill(sig = 'SIGTERM') {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(sig);
  }

  /** Kills it at once. */
  stop() {
    this.kill('SIGKILL');
  }
}
