// Browser benchmark (scripts/bench-web.sh, npm run bench; not part of npm
// test). Every measured transfer runs in a plain `chromium --headless`
// with NO DevTools client attached: a DevTools client that watches the
// network copies every WebSocket frame and caps Chromium's uploads at a
// fraction of their speed. The page under test is bench/bench.html, an
// agent that drives the documented JS API (web/wasmhole.js) and takes its
// commands from, and reports to, a small HTTP endpoint here.
//
// In each round, interleaved, through our relay (`relay serve`, the
// Python CLIs forced onto it with --transit-helper and --no-listen):
//   page -> CLI      the page sends SIZE to `wormhole receive`
//   CLI -> page      `wormhole send` to the page, into a sink that discards
//                    (the documented MessagePort sink protocol)
//   Python -> Python the reference
//   ceiling          plain JS: SIZE zeros over a WebSocketStream through the
//                    relay's /transit to a TCP reader here (no wasm, no crypto)
//   ceiling_plain_ws the same over a plain WebSocket in 256 KiB messages, the
//                    sending page's transport (with send in the directions)
//   receive ceiling  the other way: a TCP writer here, plain JS reading a
//                    WebSocketStream from /transit and discarding
// Then one memory pass: peak memory while the page sends SIZE and receives
// it as a streamed download (wasm memory + JS heap and ArrayBuffers of the
// page, all its workers and the service worker that writes the download,
// sampled over the DevTools protocol; not timed).
//
// Env: WASMHOLE_BENCH_MIB (default 1024), WASMHOLE_BENCH_ROUNDS (2),
// WASMHOLE_BENCH_PATHS (data paths to compare, default "js"; "js,go" adds
// the Go pipeline), WASMHOLE_BENCH_WORKERS (crypto workers; default: one
// per core), WASMHOLE_BENCH_MEMORY=0 skips the memory pass,
// WASMHOLE_BENCH_THREADS=1 prints the Chromium threads that used the CPU,
// WASMHOLE_BENCH_DIRECTIONS ("send,receive") picks the page's directions,
// WASMHOLE_BENCH_GC=1 collects garbage before each memory sample,
// WASMHOLE_BENCH_TRACE=1 prints every memory sample (MiB per session),
// WASMHOLE_BENCH_CHROMIUM_ARGS adds Chromium flags (e.g. --js-flags=--trace-gc,
// printed with WASMHOLE_DEBUG=1).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { startRelay, CLI, randomFile, tmpdir, buildSite, sha256File, CHROMIUM, REPO } from './harness.mjs';
import { CDP } from './cdp.mjs';

const MIB = Number(process.env.WASMHOLE_BENCH_MIB || 1024);
const SIZE = MIB * 1048576;
const ROUNDS = Number(process.env.WASMHOLE_BENCH_ROUNDS ?? 2); // 0: the memory pass only
const PATHS = (process.env.WASMHOLE_BENCH_PATHS || 'js').split(',').filter(Boolean);
const WORKERS = Number(process.env.WASMHOLE_BENCH_WORKERS || 0) || undefined;
const MEMORY = process.env.WASMHOLE_BENCH_MEMORY !== '0';
const THREADS = !!process.env.WASMHOLE_BENCH_THREADS;
const PROFILE = !!process.env.WASMHOLE_BENCH_PROFILE;
const DIRECTIONS = (process.env.WASMHOLE_BENCH_DIRECTIONS || 'send,receive').split(',');
const CEILING_MSG = 1 << 20;
const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);

/** The control endpoint: serves the data file, hands out commands, takes results. */
class Control {
  constructor(dataPath) {
    this.dataPath = dataPath;
    this.queue = [];
    this.waiting = null; // the agent's open /next request
    this.calls = new Map();
    this.events = new Map();
    this.seq = 0;
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  async listen() {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.origin = `http://127.0.0.1:${this.server.address().port}`;
  }

  async handle(req, res) {
    res.setHeader('access-control-allow-origin', '*');
    const url = new URL(req.url, this.origin);
    if (url.pathname === '/data.bin') {
      res.setHeader('content-type', 'application/octet-stream');
      res.setHeader('content-length', fs.statSync(this.dataPath).size);
      fs.createReadStream(this.dataPath).pipe(res);
      return;
    }
    let body = '';
    for await (const c of req) body += c;
    if (url.pathname === '/next') {
      if (this.queue.length) res.end(JSON.stringify(this.queue.shift()));
      else this.waiting = res;
      return;
    }
    const m = JSON.parse(body || '{}');
    if (url.pathname === '/result') {
      const c = this.calls.get(m.id);
      this.calls.delete(m.id);
      if (c) m.error ? c.reject(new Error(m.error)) : c.resolve(m.result);
    } else if (url.pathname === '/event') {
      const f = this.events.get(m.id);
      if (f) f(m);
    }
    res.end('{}');
  }

  /** Runs one command in the page; onEvent gets its events. */
  run(op, args = {}, onEvent = null) {
    const id = ++this.seq;
    if (onEvent) this.events.set(id, onEvent);
    const p = new Promise((resolve, reject) => this.calls.set(id, { resolve, reject }));
    const cmd = { id, op, ...args };
    const w = this.waiting;
    this.waiting = null;
    if (w && !w.destroyed) {
      w.end(JSON.stringify(cmd));
    } else {
      this.queue.push(cmd);
    }
    return p.finally(() => this.events.delete(id));
  }

  close() {
    this.server.closeAllConnections();
    this.server.close();
  }
}

/**
 * CPU seconds (user + system) used so far by pid and all its descendants
 * that are still alive: Chromium's processes. On a busy machine the wall
 * clock says little; CPU per GiB says what the page costs.
 */
function treeCPU(pid) {
  const procs = new Map();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const st = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(e), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      /* gone meanwhile */
    }
  }
  let ticks = 0;
  for (const [p, info] of procs) {
    for (let q = p; q > 1; q = procs.get(q)?.ppid ?? 0) {
      if (q === pid) {
        ticks += info.ticks;
        break;
      }
    }
  }
  return ticks / 100; // USER_HZ
}

/**
 * The whole machine's CPU seconds so far, busy and in all, from /proc/stat:
 * the browser, the Python peers and the relay share two cores, so how busy
 * the machine was says whether a transfer was bound by the CPU.
 */
function machineCPU() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  const busy = user + nice + system + irq + softirq + (steal || 0);
  return { busy: busy / 100, all: (busy + idle + iowait) / 100 };
}

/**
 * CPU seconds used so far by everything this bench started: its own
 * process tree (the relay, Chromium, the Python peers still running) and
 * the children it has already reaped (peers that finished). Unlike the
 * machine's counters, other work on the machine does not show here.
 */
function participantsCPU() {
  const st = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return treeCPU(process.pid) + (Number(f[13]) + Number(f[14])) / 100;
}

/**
 * Runs one measured transfer into round[key] (MB/s), with the CPU per GiB
 * of everything taking part (browser, peers, relay) and how busy the whole
 * machine was (100% = every core) beside it, and the CPU per GiB of pid's
 * process tree alone (the browser).
 */
async function measured(round, key, fn, pid) {
  const m0 = machineCPU();
  const p0 = participantsCPU();
  const c0 = treeCPU(pid);
  round[key] = +(await fn()).toFixed(1);
  const c1 = treeCPU(pid);
  const m1 = machineCPU();
  round[`${key}_all_cpu_s_per_gib`] = +((participantsCPU() - p0) / (SIZE / 2 ** 30)).toFixed(2);
  round[`${key}_busy_pct`] = Math.round((100 * (m1.busy - m0.busy)) / (m1.all - m0.all));
  round[`${key}_cpu_s_per_gib`] = +((c1 - c0) / (SIZE / 2 ** 30)).toFixed(2);
}

/** CPU ticks of every thread of pid's process tree, by "process/thread name". */
function threadTicks(pid) {
  const out = new Map();
  const procs = new Map();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const st = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      procs.set(Number(e), Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  for (const p of procs.keys()) {
    let q = p;
    while (q > 1 && q !== pid) q = procs.get(q) ?? 0;
    if (q !== pid) continue;
    let kind;
    try {
      kind = (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').match(/--type=([a-z-]+)/) || ['', 'browser'])[1];
    } catch {
      continue;
    }
    for (const t of fs.readdirSync(`/proc/${p}/task`)) {
      try {
        const st = fs.readFileSync(`/proc/${p}/task/${t}/stat`, 'utf8');
        const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
        const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
        const k = process.env.WASMHOLE_BENCH_THREADS === 'tid' ? `${kind}/${name}/${t}` : `${kind}/${name}`;
        out.set(k, (out.get(k) || 0) + Number(f[11]) + Number(f[12]));
      } catch {
        /* gone */
      }
    }
  }
  return out;
}

/** Prints the threads that used the most CPU between two threadTicks. */
function topThreads(label, a, b) {
  const d = [...b]
    .map(([k, v]) => [k, (v - (a.get(k) || 0)) / 100])
    .filter(([, v]) => v > 0.05)
    .sort((x, y) => y[1] - x[1]);
  console.error(
    `${label}: ${d
      .slice(0, 8)
      .map(([k, v]) => `${k} ${v.toFixed(2)}s`)
      .join(', ')}`,
  );
}

/** Starts Debian's Chromium on url: plain, or with a DevTools pipe (cdp). */
async function chromium(url, cdp = false) {
  const profile = await fsp.mkdtemp(path.join(os.tmpdir(), 'wasmhole-bench-chromium-'));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${profile}`,
  ];
  if (cdp) args.push('--remote-debugging-pipe', '--enable-precise-memory-info');
  if (process.env.WASMHOLE_DEBUG) args.push('--enable-logging=stderr');
  if (process.env.WASMHOLE_BENCH_CHROMIUM_ARGS) args.push(...process.env.WASMHOLE_BENCH_CHROMIUM_ARGS.split(' '));
  const proc = spawn(CHROMIUM, [...args, cdp ? 'about:blank' : url], {
    stdio: cdp ? ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.on('data', (d) => {
    if (process.env.WASMHOLE_DEBUG) process.stderr.write(`[chromium out] ${d}`);
  });
  proc.stderr.on('data', (d) => {
    if (process.env.WASMHOLE_DEBUG) process.stderr.write(`[chromium] ${d}`);
  });
  return {
    proc,
    cdp: cdp ? new CDP(proc.stdio[3], proc.stdio[4]) : null,
    async close() {
      proc.kill('SIGTERM');
      await Promise.race([once(proc, 'exit'), new Promise((r) => setTimeout(r, 5000))]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await fsp.rm(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    },
  };
}

const dist = await buildSite();
const wasm = fs.readFileSync(path.join(dist, 'web/wasmhole.wasm'));
const work = await tmpdir('wasmhole-bench-');
const src = path.join(work, 'bench.bin');
const sum = await randomFile(src, SIZE);
const ctl = new Control(src);
await ctl.listen();
// The page may talk to the control endpoint: the relay's CSP plus its origin.
const csp =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
  `connect-src 'self' ${ctl.origin}; worker-src 'self' blob:; object-src 'none'; base-uri 'none'`;
const relay = await startRelay({ args: ['--site-csp', csp] });
await fsp.cp(path.join(REPO, 'web/test/bench'), path.join(relay.site.dir, 'bench'), { recursive: true });
const pageURL = `${relay.pageURL}bench/bench.html?ctl=${encodeURIComponent(`${ctl.origin}/`)}`;
const client = { mailboxURL: relay.mailboxURL, relays: [{ websocket: [relay.transitURL], tcp: [relay.tcp] }] };
const py = ['--relay-url', relay.mailboxURL, '--transit-helper', `tcp:${relay.tcp}`];

async function pyToPy() {
  const sender = new CLI('wormhole', [...py, 'send', '--no-listen', '--hide-progress', src]);
  const code = await sender.code();
  const out = path.join(work, 'py.bin');
  const t0 = Date.now();
  const recv = new CLI('wormhole', [
    ...py,
    'receive',
    '--no-listen',
    '--accept-file',
    '--hide-progress',
    '-o',
    out,
    code,
  ]);
  const r = await recv.wait(3600000);
  const ms = Date.now() - t0;
  if (r.code !== 0) throw new Error(`python receive failed: ${recv.out}`);
  await sender.wait(60000);
  if ((await sha256File(out)) !== sum) throw new Error('python -> python: sha256 mismatch');
  await fsp.rm(out);
  return mbps(SIZE, ms);
}

// The clock runs from the receiver's start to its end, as for Python.
async function pageToPy() {
  const out = path.join(work, 'page.bin');
  let recv;
  let t0;
  const started = new Promise((resolve) => {
    ctl
      .run('send', {}, (ev) => {
        t0 = Date.now();
        recv = new CLI('wormhole', [
          ...py,
          'receive',
          '--no-listen',
          '--accept-file',
          '--hide-progress',
          '-o',
          out,
          ev.code,
        ]);
        resolve();
      })
      .then(
        () => {
          ctl.sent = true;
        },
        (err) => {
          ctl.sendErr = err;
        },
      );
  });
  await started;
  const r = await recv.wait(3600000);
  const ms = Date.now() - t0;
  if (r.code !== 0) throw new Error(`python receive from the page failed: ${recv.out}`);
  if ((await sha256File(out)) !== sum) throw new Error('page -> python: sha256 mismatch');
  await fsp.rm(out);
  return mbps(SIZE, ms);
}

async function pyToPage(download = false) {
  const sender = new CLI('wormhole', [...py, 'send', '--no-listen', '--hide-progress', src]);
  const code = await sender.code();
  const t0 = Date.now();
  const r = await ctl.run('receive', { code, download });
  const ms = Date.now() - t0;
  const s = await sender.wait(60000);
  // The sender exits 0 only after our ack carried the file's SHA-256.
  if (s.code !== 0) throw new Error(`python send to the page failed: ${sender.out}`);
  if (r.bytes !== SIZE) throw new Error(`the sink got ${r.bytes} of ${SIZE} bytes`);
  return mbps(SIZE, ms);
}

async function ceiling(op = 'ceiling', extra = {}) {
  const token = randomBytes(32).toString('hex');
  const sock = net.connect(Number(relay.tcp.split(':')[1]), '127.0.0.1');
  await once(sock, 'connect');
  sock.write(`please relay ${token} for side ${'b'.repeat(16)}\n`);
  let got = -3; // "ok\n" first
  let t0 = 0;
  const done = new Promise((resolve, reject) => {
    sock.on('data', (d) => {
      if (got < 0 && got + d.length >= 0) t0 = Date.now();
      got += d.length;
      if (got >= SIZE) resolve(Date.now());
    });
    sock.on('error', reject);
    sock.on('close', () => reject(new Error(`relay closed after ${got} bytes`)));
  });
  const [t1] = await Promise.all([
    done,
    ctl.run(op, { url: relay.transitURL, token, size: SIZE, msg: CEILING_MSG, ...extra }),
  ]);
  sock.destroy();
  return mbps(SIZE, t1 - t0);
}

// The receive direction's ceiling: a TCP writer here sends SIZE zeros
// through the relay to plain JS reading a WebSocketStream from /transit.
async function ceilingReceive() {
  const token = randomBytes(32).toString('hex');
  const page = ctl.run('ceilingReceive', { url: relay.transitURL, token, size: SIZE });
  await new Promise((r) => setTimeout(r, 300)); // the page's side first: the relay pairs either order
  const sock = net.connect(Number(relay.tcp.split(':')[1]), '127.0.0.1');
  await once(sock, 'connect');
  sock.write(`please relay ${token} for side ${'b'.repeat(16)}\n`);
  let ok = '';
  while (ok.length < 3) ok += (await once(sock, 'data'))[0].toString('latin1');
  const t0 = Date.now();
  const chunk = Buffer.alloc(256 << 10);
  for (let s = 0; s < SIZE; s += chunk.length) {
    if (!sock.write(s + chunk.length <= SIZE ? chunk : chunk.subarray(0, SIZE - s))) await once(sock, 'drain');
  }
  await page;
  sock.destroy();
  return mbps(SIZE, Date.now() - t0);
}

// ---- memory (a separate, untimed pass over the DevTools protocol) ------

const mibOf = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, +(v / 1048576).toFixed(1)]));

async function memoryPass() {
  const b = await chromium(pageURL, true);
  try {
    const cdp = b.cdp;
    const sessions = await cdp.openPage(pageURL);
    await ctl.run('load', { dataPath: 'js', cryptoWorkers: WORKERS, client });
    await ctl.run('fetchData', { url: `${ctl.origin}/data.bin`, size: SIZE });
    const sample = async () => {
      const detail = { wasm: 0, heaps: 0, arrayBuffers: 0 };
      for (const s of sessions()) {
        // WASMHOLE_BENCH_GC=1: what is live, not what is not yet collected.
        if (process.env.WASMHOLE_BENCH_GC) await cdp.send('HeapProfiler.collectGarbage', {}, s).catch(() => {});
        const h = await cdp.send('Runtime.getHeapUsage', {}, s).catch(() => null);
        if (!h) continue;
        detail.heaps += h.usedSize;
        detail.arrayBuffers += h.backingStorageSize || 0;
        const name = cdp.urls.get(s) || 'page';
        detail[name] = (detail[name] || 0) + h.usedSize + (h.backingStorageSize || 0);
        const w = await cdp
          .send(
            'Runtime.evaluate',
            { expression: 'typeof memory === "object" && memory ? memory.buffer.byteLength : 0', returnByValue: true },
            s,
          )
          .catch(() => null);
        if (w && typeof w.result.value === 'number') detail.wasm += w.result.value;
      }
      const total = detail.heaps + detail.arrayBuffers + detail.wasm;
      return { total, ...detail };
    };
    const watch = (p) => {
      let peak = { total: 0 };
      let on = true;
      const loop = (async () => {
        while (on) {
          const m = await sample();
          if (m.total > peak.total) peak = m;
          if (process.env.WASMHOLE_BENCH_TRACE) console.error(`sample ${JSON.stringify(mibOf(m))}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      return p
        .finally(() => {
          on = false;
        })
        .then(async () => {
          await loop;
          return peak;
        });
    };
    const profiled = async (label, fn) => {
      if (!PROFILE) return fn();
      const ss = sessions();
      for (const s of ss) {
        await cdp.send('Profiler.enable', {}, s).catch(() => {});
        await cdp.send('Profiler.start', {}, s).catch(() => {});
      }
      const r = await fn();
      for (const s of ss) {
        const res = await cdp.send('Profiler.stop', {}, s).catch(() => null);
        if (!res) continue;
        const hits = new Map();
        let all = 0;
        for (const n of res.profile.nodes) {
          const f = n.callFrame;
          const k = `${f.functionName || '(anon)'} ${f.url.split('/').pop()}:${f.lineNumber}`;
          hits.set(k, (hits.get(k) || 0) + (n.hitCount || 0));
          all += n.hitCount || 0;
        }
        const top = [...hits].sort((a, b) => b[1] - a[1]).slice(0, 12);
        console.error(
          `profile ${label} session ${s.slice(0, 6)} (${all} samples): ${top.map(([k, v]) => `${k} ${v}`).join(' | ')}`,
        );
      }
      return r;
    };
    const sending = DIRECTIONS.includes('send') ? await watch(profiled('send', pageToPy)) : { total: 0 };
    // Received into the page's streamed download (what a user gets), not
    // the discarding sink: its chunks would be garbage in this page's heap.
    const downloads = path.join(work, 'downloads');
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
    let rate = 0; // MB/s into the download, for comparisons (sampled, so not the timed figure)
    const receiving = await watch(profiled('receive', () => pyToPage(true).then((r) => (rate = r))));
    await fsp.rm(downloads, { recursive: true, force: true });
    return { sending: mibOf(sending), receiving: mibOf(receiving), download_mb_per_s: +rate.toFixed(1) };
  } finally {
    await b.close();
  }
}

// ---- the run ---------------------------------------------------------

const results = {
  size_mib: MIB,
  rounds: [],
  chromium: execFileSync(CHROMIUM, ['--version']).toString().trim(),
  cpus: os.cpus().length,
  wasm_gzip_bytes: zlib.gzipSync(wasm, { level: 9 }).length,
  wasm_brotli_bytes: zlib.brotliCompressSync(wasm).length,
};
const browser = await chromium(pageURL);
const pid = browser.proc.pid;
try {
  for (let r = 0; r < ROUNDS; r++) {
    const round = {};
    await measured(round, 'python_to_python', pyToPy);
    for (const dp of PATHS) {
      const info = await ctl.run('load', { dataPath: dp, cryptoWorkers: WORKERS, client });
      results.hardwareConcurrency = info.hardwareConcurrency;
      await ctl.run('fetchData', { url: `${ctl.origin}/data.bin`, size: SIZE });
      let t0 = THREADS && threadTicks(pid);
      if (DIRECTIONS.includes('send')) {
        await measured(round, `page_to_cli_${dp}`, pageToPy, pid);
        if (THREADS) topThreads(`page_to_cli_${dp}`, t0, threadTicks(pid));
      }
      t0 = THREADS && threadTicks(pid);
      if (DIRECTIONS.includes('receive')) {
        await measured(round, `cli_to_page_${dp}`, () => pyToPage(), pid);
        if (THREADS) topThreads(`cli_to_page_${dp}`, t0, threadTicks(pid));
      }
      const m = await ctl.run('memory');
      if (THREADS) console.error(JSON.stringify(m));
      const sent = DIRECTIONS.includes('send') && dp === 'js';
      const received = DIRECTIONS.includes('receive') && dp === 'js';
      if (
        (m.dataPath?.sends ?? 0) < (sent ? 1 : 0) ||
        (m.dataPath?.receives ?? 0) < (received ? 1 : 0) ||
        (dp === 'go' && m.dataPath)
      ) {
        throw new Error(`the ${dp} data path did not run: ${JSON.stringify(m)}`);
      }
    }
    await measured(round, 'ceiling', () => ceiling(), pid);
    if (DIRECTIONS.includes('send')) {
      // The sending page's own transport: a plain WebSocket, 256 KiB
      // messages, the data path's marks (web/datapath/socket-writer.js).
      const plain = { msg: 256 << 10, high: 8 << 20, low: 2 << 20 };
      await measured(round, 'ceiling_plain_ws', () => ceiling('ceilingPlain', plain), pid);
    }
    if (DIRECTIONS.includes('receive')) {
      const t2 = THREADS && threadTicks(pid);
      await measured(round, 'ceiling_receive', ceilingReceive, pid);
      if (THREADS) topThreads('ceiling_receive', t2, threadTicks(pid));
    }
    results.rounds.push(round);
    console.error(`round ${r + 1}: ${JSON.stringify(round)}`);
  }
} finally {
  await browser.close();
}
if (MEMORY) {
  results.peak_memory_mib = await memoryPass();
}
ctl.close();
await relay.stop();
await fsp.rm(work, { recursive: true, force: true });

// The table: each figure as min-max over the rounds, with ratios to
// Python -> Python and to the ceiling of the same round.
const keys = Object.keys(results.rounds[0] || {}).filter((k) => !/_(cpu_s_per_gib|busy_pct)$/.test(k));
const range = (f) => {
  const v = results.rounds.map(f);
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  return lo === hi ? lo.toFixed(2) : `${lo.toFixed(2)}-${hi.toFixed(2)}`;
};
const rows = [
  ['transfer', 'MB/s', 'x Python->Python', 'x ceiling', 'Chromium CPU s/GiB', 'all CPU s/GiB', 'machine busy %'],
];
for (const k of keys) {
  const cpu = results.rounds[0][`${k}_cpu_s_per_gib`] === undefined ? '' : range((r) => r[`${k}_cpu_s_per_gib`]);
  rows.push([
    k,
    range((r) => r[k]).replace(/\.(\d)\d/g, '.$1'),
    range((r) => r[k] / r.python_to_python),
    // A receive is held against the receive direction's ceiling.
    range(
      (r) => r[k] / (/^(cli_to_page|ceiling_receive)/.test(k) && r.ceiling_receive ? r.ceiling_receive : r.ceiling),
    ),
    cpu,
    range((r) => r[`${k}_all_cpu_s_per_gib`]),
    range((r) => r[`${k}_busy_pct`]).replace(/\.00/g, ''),
  ]);
}
console.log(JSON.stringify(results, null, 2));
console.log(
  `\n${MIB} MiB through our relay, ${results.rounds.length} rounds, ${results.chromium}, ${results.cpus} cores`,
);
const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i])).join('  '));
if (results.peak_memory_mib) {
  const m = results.peak_memory_mib;
  console.log(
    `peak memory: sending ${m.sending.total} MiB, receiving ${m.receiving.total} MiB ` +
      `(wasm + JS heaps + ArrayBuffers of the page and its workers)`,
  );
  console.log(`  sending:   ${JSON.stringify(m.sending)}\n  receiving: ${JSON.stringify(m.receiving)}`);
  console.log(`  the streamed download arrived at ${m.download_mb_per_s} MB/s (while sampled)`);
}
console.log(
  `wasm: ${(results.wasm_gzip_bytes / 1e6).toFixed(2)} MB gzip -9, ${(results.wasm_brotli_bytes / 1e6).toFixed(2)} MB brotli`,
);
