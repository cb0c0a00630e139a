// @ts-check
// wasmhole worker: runs the Go client (wasmhole.wasm) off the page's main
// thread and answers the page's calls. Loaded by wasmhole.js as a classic
// dedicated worker, so importScripts resolves next to this file.
//
// Page -> worker: {id, op, args}           (op is a method of self.wasmhole)
// Worker -> page: {id, result} | {id, error: {name, message}} | {id, event}
//                 {ready: true, memory} | {fatal: {name, message}}
//
// The wasm is fetched, hashed with SHA-256 and compared with the hash the
// build wrote into wasm-hash.js before it is compiled: a wasm that was
// swapped or damaged on the way never runs.
'use strict';
importScripts('wasm_exec.js', 'wasm-hash.js');

// The data path (web/datapath/, bundled by the build) moves a transfer's
// bytes in JS workers; without it, or with ?datapath=go, the Go core moves
// them itself (slower, same protocol).
{
  const params = new URLSearchParams(self.location.search);
  const workers = Number(params.get('crypto-workers'));
  if (workers > 0) self.WASMHOLE_CRYPTO_WORKERS = workers;
  const backlog = Number(params.get('receive-backlog'));
  if (backlog > 0) self.WASMHOLE_RECEIVE_BACKLOG = backlog;
  if (params.get('datapath') !== 'go') {
    try {
      importScripts('datapath.js');
    } catch (err) {
      console.warn('wasmhole: data path not loaded, using the Go pipeline:', err);
    }
  }
}

// sha256 for non-secure contexts (plain http on a LAN address), where
// crypto.subtle does not exist. Straight from FIPS 180-4.
function sha256Fallback(bytes) {
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
  ]);
  const H = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const len = bytes.length;
  const padded = new Uint8Array(((len + 9 + 63) >> 6) << 6);
  padded.set(bytes);
  padded[len] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(len / 0x20000000));
  view.setUint32(padded.length - 4, (len << 3) >>> 0);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + 4 * i);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, h] = H;
    for (let i = 0; i < 64; i++) {
      const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    H[0] += a;
    H[1] += b;
    H[2] += c;
    H[3] += d;
    H[4] += e;
    H[5] += f;
    H[6] += g;
    H[7] += h;
  }
  return Array.from(H, (x) => x.toString(16).padStart(8, '0')).join('');
}

async function sha256Hex(buf) {
  if (self.crypto && self.crypto.subtle) {
    const d = new Uint8Array(await self.crypto.subtle.digest('SHA-256', buf));
    return Array.from(d, (x) => x.toString(16).padStart(2, '0')).join('');
  }
  return sha256Fallback(new Uint8Array(buf));
}

let memory = null;

// The first "panic:" or "fatal error:" line the Go program wrote to
// stderr: it writes one just before a crash ends it, so the page is told
// the cause instead of only "stopped". wasm_exec.js still logs every line.
let goFatal = '';
{
  const fs = /** @type {any} */ (globalThis).fs;
  const writeSync = fs.writeSync.bind(fs);
  const decoder = new TextDecoder();
  let partial = ''; // the line written so far (the runtime prints in pieces)
  fs.writeSync = (/** @type {number} */ fd, /** @type {Uint8Array} */ buf) => {
    if (fd === 2 && !goFatal) {
      const lines = (partial + decoder.decode(buf, { stream: true })).split('\n');
      partial = (lines.pop() || '').slice(-4096);
      goFatal = lines.find((l) => /^(panic|fatal error): /.test(l)) || '';
    }
    return writeSync(fd, buf);
  };
}

/** Why the Go program exited, as the page is told. */
function exitReason() {
  return goFatal ? `the wasm client stopped: ${goFatal}` : 'the wasm client stopped';
}

const ready = (async () => {
  const want = String(self.WASMHOLE_WASM_SHA256 || '');
  if (!/^[0-9a-f]{64}$/.test(want)) throw new Error('wasm-hash.js has no valid hash');
  // The hash in the URL makes a cached wasm of another build impossible.
  const res = await fetch('wasmhole.wasm?h=' + want.slice(0, 16));
  if (!res.ok) throw new Error(`could not load wasmhole.wasm: HTTP ${res.status}`);
  // Compile while the bytes arrive and are hashed; compiling runs nothing,
  // and the module is instantiated only once its hash matched.
  let compiling = null;
  let bytes;
  if (res.body && WebAssembly.compileStreaming) {
    const [forCompile, forHash] = res.body.tee();
    compiling = WebAssembly.compileStreaming(
      new Response(forCompile, { headers: { 'Content-Type': 'application/wasm' } }),
    );
    compiling.catch(() => {});
    bytes = await new Response(forHash).arrayBuffer();
  } else {
    bytes = await res.arrayBuffer();
  }
  const got = await sha256Hex(bytes);
  if (got !== want) {
    const err = new Error(`wasmhole.wasm has SHA-256 ${got}, expected ${want}; refusing to run it`);
    err.name = 'IntegrityError';
    throw err;
  }
  const module = await (compiling || WebAssembly.compile(bytes)).catch(() => WebAssembly.compile(bytes));
  // Detached, the wasm's bytes are freed now, not at this worker's first
  // full garbage collection, which a receive may not bring before tens of
  // MiB more are waiting for it.
  if (typeof bytes.transfer === 'function') bytes.transfer(0);
  bytes = null;
  const go = new Go();
  const started = new Promise((resolve) => {
    self.wasmholeStarted = resolve;
  });
  const instance = await WebAssembly.instantiate(module, go.importObject);
  memory = instance.exports.mem;
  go.run(instance).then(() => {
    self.postMessage({ fatal: { name: 'Exited', message: exitReason() } });
  });
  await started;
})();

function plainError(err) {
  if (err && typeof err === 'object') {
    return { name: String(err.name || 'Error'), message: String(err.message || err) };
  }
  return { name: 'Error', message: String(err) };
}

// Worker-side ops that are not in Go.
const local = {
  // memory() -> {wasm, jsHeap, dataPath}: bytes of wasm linear memory,
  // where Chromium exposes it this worker's JS heap, and how many
  // transfers the JS data path moved (null without it); for the benchmark.
  memory() {
    const pm = self.performance && self.performance.memory;
    const dp = self.wasmholeDataPath;
    return {
      wasm: memory ? memory.buffer.byteLength : 0,
      jsHeap: pm ? pm.usedJSHeapSize : null,
      dataPath: dp ? { ...dp.stats } : null,
    };
  },
};

self.onmessage = async (e) => {
  const dp = self.wasmholeDataPath;
  // The page's answer to the data path's request for workers.
  if (e.data && e.data.spawned) {
    if (dp) dp.spawned(e.data.spawned);
    return;
  }
  if (e.data && e.data.spawnFailed) {
    if (dp) dp.spawnFailed(e.data.spawnFailed);
    return;
  }
  const { id, op, args = [] } = e.data || {};
  if (typeof id !== 'number') return;
  try {
    await ready;
    let fn = local[op];
    if (!fn) {
      const api = self.wasmhole;
      if (!api || typeof api[op] !== 'function') throw new Error(`unknown operation ${op}`);
      fn = api[op].bind(api);
    }
    const emit = (event) => self.postMessage({ id, event });
    const result = await fn(...args, emit);
    self.postMessage({ id, result });
  } catch (err) {
    self.postMessage({ id, error: plainError(err) });
  }
};

ready.then(
  () => self.postMessage({ ready: true }),
  (err) => self.postMessage({ fatal: plainError(err) }),
);
