// CPU cost of the Go core as the Worker runs it, measured in Node's V8 on
// the built dist/relay.wasm (npm run bench, after scripts/build-worker.sh).
// Storage is a no-op here: the numbers are the Go side of each call; a
// Durable Object adds its SQLite statements (microseconds each).
//
//   compile      WebAssembly.Module from bytes (Workers: at upload/isolate start)
//   init         Instance + Go runtime start + restore, per Durable Object start
//   session      one mailbox session of two clients (bind, allocate/claim, open,
//                add pake/version/0, release, close), per client event
//   handshake    one transit pairing (two lines), per line
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist');
await import(path.join(dist, 'wasm_exec.js'));
const bytes = fs.readFileSync(path.join(dist, 'relay.wasm'));

let t = performance.now();
const mod = new WebAssembly.Module(bytes);
const compileMs = performance.now() - t;

let seq = 0;
function start(role, config = {}) {
  const key = `__bench_${++seq}`;
  let api;
  globalThis[key] = {
    role,
    config,
    db: { query: () => [], batch: () => {} },
    ready: (a) => {
      api = a;
    },
    fail: (m) => {
      throw new Error(m);
    },
  };
  const go = new Go();
  go.argv = ['relay', key];
  go.run(new WebAssembly.Instance(mod, go.importObject));
  delete globalThis[key];
  return api;
}

const inits = [];
for (let i = 0; i < 5; i++) {
  t = performance.now();
  start('mailbox');
  inits.push(performance.now() - t);
}

const mb = start('mailbox');
const app = 'lothar.com/wormhole/text-or-file-xfer';
const N = 300;
let events = 0;
const ev = (f) => {
  events++;
  return f();
};
t = performance.now();
for (let i = 0; i < N; i++) {
  const [a, b] = [2 * i + 1, 2 * i + 2];
  ev(() => mb.open(a));
  ev(() => mb.open(b));
  ev(() => mb.frame(a, JSON.stringify({ type: 'bind', appid: app, side: `a${i}`, id: '0001' })));
  ev(() => mb.frame(b, JSON.stringify({ type: 'bind', appid: app, side: `b${i}`, id: '0001' })));
  const np = JSON.parse(ev(() => mb.frame(a, JSON.stringify({ type: 'allocate', id: '0002' }))).at(-1).data).nameplate;
  const mbox = JSON.parse(ev(() => mb.frame(a, JSON.stringify({ type: 'claim', nameplate: np }))).at(-1).data).mailbox;
  ev(() => mb.frame(b, JSON.stringify({ type: 'claim', nameplate: np })));
  for (const c of [a, b]) {
    ev(() => mb.frame(c, JSON.stringify({ type: 'open', mailbox: mbox })));
    for (const phase of ['pake', 'version', '0']) {
      ev(() => mb.frame(c, JSON.stringify({ type: 'add', phase, body: 'ab'.repeat(100), id: '0003' })));
    }
    ev(() => mb.frame(c, JSON.stringify({ type: 'release', nameplate: np })));
    ev(() => mb.frame(c, JSON.stringify({ type: 'close', mailbox: mbox, mood: 'happy' })));
    ev(() => mb.gone(c));
  }
}
const perEvent = (performance.now() - t) / events;

const tr = start('transit');
const M = 1000;
t = performance.now();
for (let i = 0; i < M; i++) {
  const token = i.toString(16).padStart(64, '0');
  tr.open(2 * i + 1);
  tr.open(2 * i + 2);
  tr.frame(2 * i + 1, new TextEncoder().encode(`please relay ${token} for side ${'1'.repeat(16)}\n`).buffer);
  tr.frame(2 * i + 2, new TextEncoder().encode(`please relay ${token} for side ${'2'.repeat(16)}\n`).buffer);
  tr.gone(2 * i + 1, 0);
  tr.gone(2 * i + 2, 0);
}
const perLine = (performance.now() - t) / (2 * M);

const f = (x) => x.toFixed(2);
console.log(`compile   ${f(compileMs)} ms (${bytes.length} bytes)`);
console.log(`init      first ${f(inits[0])} ms, then ${inits.slice(1).map(f).join(' / ')} ms per Durable Object start`);
console.log(`session   ${f(perEvent * 1000)} µs per mailbox event (${events} events, ${N} sessions)`);
console.log(`handshake ${f(perLine * 1000)} µs per transit line (pairing mode)`);
