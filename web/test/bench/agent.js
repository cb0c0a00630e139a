// The benchmark agent (web/test/bench.mjs copies it into the site under
// test as bench/): a page that drives the documented JS API and nothing
// else, in a Chromium with no DevTools client attached. It asks the
// bench's HTTP endpoint (?ctl=URL) for commands and posts the results
// back, so no transfer is ever watched by a debugger.
import { Wasmhole } from '../web/wasmhole.js';

const ctl = new URL(location.href).searchParams.get('ctl');
let wh = null;
let data = null; // the Blob to send, fetched once from the bench endpoint

async function post(path, body) {
  // text/plain: a simple request, no CORS preflight.
  await fetch(new URL(path, ctl), {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'text/plain' },
  });
}

// discardSink speaks the documented MessagePort sink protocol
// (web/README.md, "Sinks") and throws every chunk away.
function discardSink(stats) {
  const ch = new MessageChannel();
  ch.port1.onmessage = (e) => {
    const m = e.data;
    if (m.type === 'chunk') {
      stats.bytes += m.data.byteLength;
      ch.port1.postMessage({ type: 'credit', n: 1 });
    } else if (m.type === 'end') {
      ch.port1.postMessage({ type: 'done' });
    }
  };
  return {
    kind: 'port',
    port: ch.port2,
    start() {
      ch.port1.postMessage({ type: 'credit', n: 8 });
    },
  };
}

const ops = {
  async load({ dataPath, cryptoWorkers, client }) {
    if (wh) wh.terminate();
    wh = await Wasmhole.load({ dataPath, cryptoWorkers, client });
    return { hardwareConcurrency: navigator.hardwareConcurrency };
  },
  async fetchData({ url, size }) {
    if (!data || data.size !== size) data = await (await fetch(url)).blob();
    return { size: data.size };
  },
  async send({ id }) {
    const t = await wh.sendFile(data, { name: 'bench.bin' });
    await post('event', { id, code: t.code });
    await t.done;
    return {};
  },
  // receive into a sink that discards, or (download: true) into the
  // page's own streamed download through the service worker.
  async receive({ code, download }) {
    if (download) await wh.prepareDownloads();
    const offer = await wh.receive(code);
    const stats = { bytes: 0 };
    const sink = download ? await wh.downloadSink('bench.bin', offer.size) : discardSink(stats);
    if (!sink) throw new Error('no service worker for downloads');
    const t0 = performance.now();
    await offer.accept(sink);
    // A download's bytes are the browser's; accept resolved after they were stored.
    return { ms: performance.now() - t0, bytes: download ? offer.size : stats.bytes };
  },
  // ceiling: plain JS, no wasm, no crypto: size bytes of zeros through the
  // relay's /transit to the bench's TCP reader, in messages of msg bytes.
  async ceiling({ url, token, size, msg }) {
    const wss = new WebSocketStream(url);
    const { readable, writable } = await wss.opened;
    const w = writable.getWriter();
    const r = readable.getReader();
    await w.write(new TextEncoder().encode(`please relay ${token} for side ${'a'.repeat(16)}\n`));
    const ok = await r.read();
    if (new TextDecoder().decode(ok.value) !== 'ok\n') throw new Error('relay refused');
    const chunk = new Uint8Array(msg);
    let last = null;
    for (let s = 0; s < size; s += msg) {
      await w.ready;
      last = w.write(chunk.slice(0, Math.min(msg, size - s)));
    }
    await last;
    return {};
  },
  // ceilingPlain: the same over a plain WebSocket, the sending page's
  // transport, with the data path's backpressure (web/datapath/socket-writer.js).
  async ceilingPlain({ url, token, size, msg, high, low }) {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const first = new Promise((resolve, reject) => {
      ws.onmessage = (e) => resolve(new TextDecoder().decode(e.data));
      ws.onclose = () => reject(new Error('relay closed'));
    });
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error('websocket failed'));
    });
    ws.send(new TextEncoder().encode(`please relay ${token} for side ${'a'.repeat(16)}\n`));
    if ((await first) !== 'ok\n') throw new Error('relay refused');
    const chunk = new Uint8Array(msg);
    for (let s = 0; s < size; s += msg) {
      if (ws.bufferedAmount > high) {
        while (ws.bufferedAmount > low) await new Promise((r) => setTimeout(r, 1));
      }
      ws.send(chunk.subarray(0, Math.min(msg, size - s)));
    }
    while (ws.bufferedAmount > 0) await new Promise((r) => setTimeout(r, 1));
    return {};
  },
  // ceilingReceive: the other way, plain JS reading size bytes from the
  // relay's /transit (sent by the bench's TCP writer) and discarding them.
  async ceilingReceive({ url, token, size }) {
    const wss = new WebSocketStream(url);
    const { readable, writable } = await wss.opened;
    const w = writable.getWriter();
    const r = readable.getReader();
    await w.write(new TextEncoder().encode(`please relay ${token} for side ${'a'.repeat(16)}\n`));
    let got = -3; // "ok\n" first
    while (got < size) {
      const { value, done } = await r.read();
      if (done) throw new Error(`relay closed after ${got} bytes`);
      got += value.byteLength;
    }
    wss.close();
    return {};
  },
  async memory() {
    return wh.memory();
  },
};

for (;;) {
  let cmd;
  try {
    cmd = await (await fetch(new URL('next', ctl), { method: 'POST' })).json();
  } catch {
    await new Promise((r) => setTimeout(r, 500));
    continue;
  }
  if (cmd.op === 'quit') break;
  try {
    const result = await ops[cmd.op](cmd);
    await post('result', { id: cmd.id, result });
  } catch (err) {
    await post('result', { id: cmd.id, error: `${err.name}: ${err.message}` });
  }
}
