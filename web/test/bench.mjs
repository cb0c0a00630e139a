// Benchmark for the closing note (npm run bench; not part of npm test):
//
//  1. Python -> Python, SIZE through our relay (both --no-listen), MB/s;
//  2. browser -> Python, SIZE through the same relay in the same run, MB/s,
//     and their ratio;
//  3. peak memory while the browser sends: the worker's wasm linear memory
//     plus its JS heap plus the page's JS heap, sampled every 200 ms;
//  4. the wasm's size after gzip -9;
//  5. the ceiling: the same browser sending SIZE bytes of zeros through
//     the same relay from plain JS (WebSocketStream, 64 KiB messages, no
//     wasm, no crypto, no file) to a TCP reader that discards them. No
//     client in this browser can send faster than that.
//
// SIZE defaults to 1 GiB (env WASMHOLE_BENCH_MIB to change it).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { launch, openPage, startRelay, CLI, randomFile, tmpdir, buildSite, sha256File } from './harness.mjs';

// workerHeapProbe returns a function reading the worker's heap through the
// DevTools protocol (Runtime.getHeapUsage): usedSize is its JS heap,
// backingStorageSize the ArrayBuffers it holds (chunks in flight).
async function workerHeapProbe(context, page) {
  const cdp = await context.newCDPSession(page);
  const { targetInfos } = await cdp.send('Target.getTargets');
  const w = targetInfos.find((t) => t.type === 'worker' && t.url.endsWith('/worker.js'));
  if (!w) throw new Error('no wasmhole worker target');
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: w.targetId, flatten: false });
  const pending = new Map();
  let id = 0;
  cdp.on('Target.receivedMessageFromTarget', (e) => {
    const m = JSON.parse(e.message);
    const f = pending.get(m.id);
    if (f) { pending.delete(m.id); f(m); }
  });
  return () => new Promise((resolve, reject) => {
    const i = ++id;
    pending.set(i, (m) => (m.result ? resolve(m.result) : reject(new Error(JSON.stringify(m.error)))));
    cdp.send('Target.sendMessageToTarget', { sessionId,
      message: JSON.stringify({ id: i, method: 'Runtime.getHeapUsage', params: {} }) }).catch(reject);
  });
}

// wsCeiling pairs a WebSocket opened by page p with a TCP connection from
// here on the relay, pushes size bytes of zeros from the page and returns
// MB/s as the TCP side sees them arrive.
async function wsCeiling(p, relay, size) {
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
      if (got >= size) resolve(Date.now());
    });
    sock.on('error', reject);
    sock.on('close', () => reject(new Error(`relay closed after ${got} bytes`)));
  });
  const sent = p.evaluate(async ({ url, token, size }) => {
    const wss = new WebSocketStream(url);
    const { readable, writable } = await wss.opened;
    const w = writable.getWriter();
    const r = readable.getReader();
    await w.write(new TextEncoder().encode(`please relay ${token} for side ${'a'.repeat(16)}\n`));
    const ok = await r.read();
    if (new TextDecoder().decode(ok.value) !== 'ok\n') throw new Error('relay refused');
    const chunk = new Uint8Array(65536);
    for (let s = 0; s < size; s += chunk.length) {
      await w.ready;
      w.write(chunk.slice(0, Math.min(chunk.length, size - s)));
    }
    await w.ready;
    return true;
  }, { url: relay.transitURL, token, size });
  const [t1] = await Promise.all([done, sent]);
  sock.destroy();
  return mbps(size, t1 - t0);
}

const MIB = Number(process.env.WASMHOLE_BENCH_MIB || 1024);
const size = MIB * 1048576;
const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);

const dist = await buildSite();
const wasm = fs.readFileSync(path.join(dist, 'web/wasmhole.wasm'));
const gz = zlib.gzipSync(wasm, { level: 9 }).length;

const relay = await startRelay();
const work = await tmpdir('wasmhole-bench-');
const results = { size_mib: MIB, wasm_bytes: wasm.length, wasm_gzip_bytes: gz };
try {
  const src = path.join(work, 'bench.bin');
  const sum = await randomFile(src, size);
  const py = ['--relay-url', relay.mailboxURL, '--transit-helper', `tcp:${relay.tcp}`];

  // 1. Python -> Python. The clock starts when the receiver starts, as for
  // the browser below (both exclude making the file and showing the code).
  {
    const sender = new CLI('wormhole', [...py, 'send', '--no-listen', '--hide-progress', src]);
    const code = await sender.code();
    const t0 = Date.now();
    const recv = new CLI('wormhole', [...py, 'receive', '--no-listen', '--accept-file', '--hide-progress',
      '-o', path.join(work, 'py.bin'), code]);
    const r = await recv.wait(3600000);
    const ms = Date.now() - t0;
    if (r.code !== 0) throw new Error(`python receive failed: ${recv.out}`);
    await sender.wait(60000);
    if (await sha256File(path.join(work, 'py.bin')) !== sum) throw new Error('python -> python: sha256 mismatch');
    results.python_to_python_mbps = +mbps(size, ms).toFixed(1);
    await fsp.rm(path.join(work, 'py.bin'));
  }

  // 2. + 3. Browser -> Python.
  const b = await launch();
  try {
    const p = b.page;
    await openPage(p, relay.pageURL);
    await p.getByLabel('Files', { exact: true }).setInputFiles([src]);
    await p.getByRole('button', { name: 'Send', exact: true }).click();
    await p.waitForFunction(() => document.getElementById('code').value !== '', null, { timeout: 60000 });
    const code = await p.locator('#code').inputValue();
    const workerHeap = await workerHeapProbe(b.context, p);
    let peak = { total: 0 };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const m = await p.evaluate(async () => {
          const w = await window.wasmhole.memory();
          const page = performance.memory ? performance.memory.usedJSHeapSize : 0;
          return { wasm: w.wasm, pageHeap: page };
        }).catch(() => null);
        const h = await workerHeap().catch(() => null);
        if (m && h) {
          m.workerHeap = h.usedSize;
          m.workerArrayBuffers = h.backingStorageSize || 0;
          const total = m.wasm + m.workerHeap + m.workerArrayBuffers + m.pageHeap;
          if (total > peak.total) peak = { total, ...m };
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const t0 = Date.now();
    const recv = new CLI('wormhole', [...py, 'receive', '--no-listen', '--accept-file', '--hide-progress',
      '-o', path.join(work, 'browser.bin'), code]);
    const r = await recv.wait(3600000);
    const ms = Date.now() - t0;
    sampling = false;
    await sampler;
    if (r.code !== 0) throw new Error(`python receive from the browser failed: ${recv.out}`);
    if (await sha256File(path.join(work, 'browser.bin')) !== sum) throw new Error('browser -> python: sha256 mismatch');
    await p.getByRole('status', { name: 'Send status' }).getByText('Sent.').waitFor({ timeout: 60000 });
    results.browser_to_python_mbps = +mbps(size, ms).toFixed(1);
    results.ratio = +(results.browser_to_python_mbps / results.python_to_python_mbps).toFixed(2);
    results.peak_memory_mib = +(peak.total / 1048576).toFixed(1);
    results.peak_detail_mib = Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, +(v / 1048576).toFixed(1)]));

    // 5. The browser's own WebSocket ceiling through the relay.
    results.browser_ws_ceiling_mbps = +(await wsCeiling(p, relay, size)).toFixed(1);
    results.ratio_to_ceiling = +(results.browser_to_python_mbps / results.browser_ws_ceiling_mbps).toFixed(2);

    // 4. Python -> browser (streamed download through the service worker).
    await p.getByRole('button', { name: 'Send something else' }).click();
    const sender = new CLI('wormhole', [...py, 'send', '--no-listen', '--hide-progress', src]);
    const code2 = await sender.code();
    await p.getByRole('combobox', { name: 'Code' }).fill(code2);
    await p.getByRole('button', { name: 'Receive', exact: true }).click();
    await p.getByRole('button', { name: 'Accept' }).waitFor({ timeout: 60000 });
    peak = { total: 0 };
    sampling = true;
    const sampler2 = (async () => {
      while (sampling) {
        const m = await p.evaluate(async () => ({ wasm: (await window.wasmhole.memory()).wasm,
          pageHeap: performance.memory ? performance.memory.usedJSHeapSize : 0 })).catch(() => null);
        const h = await workerHeap().catch(() => null);
        if (m && h) {
          const total = m.wasm + m.pageHeap + h.usedSize + (h.backingStorageSize || 0);
          if (total > peak.total) peak = { total, ...m, workerHeap: h.usedSize, workerArrayBuffers: h.backingStorageSize || 0 };
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const t1 = Date.now();
    const [download] = await Promise.all([
      p.waitForEvent('download', { timeout: 120000 }),
      p.getByRole('button', { name: 'Accept' }).click(),
    ]);
    await p.getByRole('status', { name: 'Receive status' }).getByText('Received').waitFor({ timeout: 3600000 });
    const ms2 = Date.now() - t1;
    sampling = false;
    await sampler2;
    const saved = path.join(work, 'download.bin');
    await download.saveAs(saved);
    if (await sha256File(saved) !== sum) throw new Error('python -> browser: sha256 mismatch');
    await sender.wait(60000);
    results.python_to_browser_mbps = +mbps(size, ms2).toFixed(1);
    results.receive_peak_memory_mib = +(peak.total / 1048576).toFixed(1);
  } finally {
    await b.close();
  }
} finally {
  await relay.stop();
  await fsp.rm(work, { recursive: true, force: true });
}
results.chromium = execFileSync('/usr/bin/chromium', ['--version']).toString().trim();
console.log(JSON.stringify(results, null, 2));
console.log(`browser -> python ${results.browser_to_python_mbps} MB/s, python -> python ${results.python_to_python_mbps} MB/s `
  + `(ratio ${results.ratio}); peak JS heap + wasm memory ${results.peak_memory_mib} MiB; `
  + `python -> browser ${results.python_to_browser_mbps} MB/s (peak ${results.receive_peak_memory_mib} MiB); `
  + `wasm ${(gz / 1e6).toFixed(2)} MB gzip -9; this browser's bare WebSocket through the relay: `
  + `${results.browser_ws_ceiling_mbps} MB/s (ours is ${results.ratio_to_ceiling} of it)`);
