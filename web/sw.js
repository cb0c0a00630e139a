// @ts-check
// wasmhole service worker: turns a stream of chunks from the wasm worker
// into a normal browser download, so a received file goes straight to disk
// and never sits whole in memory, the same way in every browser that has
// service workers.
//
// Registered by wasmhole.js with scope "<this folder>/dl/" only: it never
// controls the page itself. A download works like this:
//  1. the page posts {type: "download", id, name, size} with a MessagePort
//     (the consumer end of the sink protocol, see README.md "Sinks");
//  2. the page navigates a hidden iframe to dl/<id>/<name>;
//  3. fetch below answers with a ReadableStream and Content-Disposition:
//     attachment, so the browser saves it as a download;
//  4. each pull() of the stream grants the producer one credit and waits
//     for one chunk, so the producer can never run ahead of the disk.
// A producer "abort" errors the stream: the browser marks the download
// failed instead of keeping a truncated file. The page pings us while a
// download runs, so the browser does not stop this worker mid-stream.
'use strict';

// self, typed as what it is here (for tsc; the same object at run time).
const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

const pending = new Map(); // id -> {port, name, size, timer}

sw.addEventListener('install', () => sw.skipWaiting());
sw.addEventListener('activate', (e) => e.waitUntil(sw.clients.claim()));

sw.addEventListener('message', (e) => {
  const d = e.data || {};
  if (d.type === 'download' && typeof d.id === 'string' && e.ports[0]) {
    // Forget downloads that are never fetched (page closed early).
    const timer = setTimeout(() => {
      const p = pending.get(d.id);
      if (p) {
        pending.delete(d.id);
        p.port.postMessage({ type: 'cancel' });
      }
    }, 60000);
    pending.set(d.id, { port: e.ports[0], name: String(d.name || 'download'), size: d.size, timer });
    if (e.source) e.source.postMessage({ type: 'download-registered', id: d.id });
  }
  // {type: "ping"} needs no answer: receiving it keeps this worker alive.
});

// startCollection makes V8 begin a full garbage collection in this worker
// now, while it holds next to nothing: a 64 MiB ArrayBuffer passes the
// external-memory mark that starts one, and detaching it (transfer to
// length 0) frees it at once. Without it, this worker's first collection
// starts only when ~60 MiB of chunks wait for it; after one, V8 sets the
// mark from what survived, a few MiB, but raises it as the heap grows, so
// a download starts one again every COLLECT_EVERY bytes (web/README.md,
// "Memory while receiving").
const COLLECT_EVERY = 32 << 20;
function startCollection() {
  if (typeof ArrayBuffer.prototype.transfer !== 'function') return; // ES2024; where missing, nothing is allocated
  try {
    new ArrayBuffer(64 << 20).transfer(0);
  } catch {
    // Short of memory: the download goes on without it.
  }
}

// pace allocates a short-lived array of a quarter of each chunk's size.
// The download's reader holds every chunk it took until this worker's
// next full garbage collection: nothing frees them sooner. V8 starts one
// after some tens of MiB of them, but moves it on mostly as JS allocates,
// and this worker allocates next to nothing per chunk, so a started
// collection finished only 60-140 MiB later; with this allocation it
// finishes within a few MiB (measured: web/README.md, "Memory while receiving").
let paced = null;
function pace(bytes) {
  paced = new Array(bytes >> 4).fill(0);
  return paced.length;
}

// encodeRFC5987 makes a filename* parameter for Content-Disposition.
function encodeRFC5987(s) {
  return encodeURIComponent(s).replace(/['()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function asciiFallback(s) {
  const a = s.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return a || 'download';
}

sw.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  const m = url.pathname.match(/\/dl\/([A-Za-z0-9_-]{8,64})\/[^/]*$/);
  if (!m) return; // not ours: the network answers
  const dl = pending.get(m[1]);
  if (!dl) {
    e.respondWith(
      new Response('This download has expired or was already saved.\n', {
        status: 404,
        headers: { 'Content-Type': 'text/plain; charset=utf-8' },
      }),
    );
    return;
  }
  pending.delete(m[1]);
  clearTimeout(dl.timer);
  startCollection();
  let sinceCollection = 0; // chunk bytes since the last startCollection
  const port = dl.port;
  let waiting = null; // resolves the pending pull()
  let finished = false;
  const stream = new ReadableStream(
    {
      start(controller) {
        port.onmessage = (ev) => {
          const msg = ev.data || {};
          if (finished) return;
          if (msg.type === 'chunk') {
            controller.enqueue(new Uint8Array(msg.data));
            pace(msg.data.byteLength);
            sinceCollection += msg.data.byteLength;
            if (sinceCollection >= COLLECT_EVERY) {
              sinceCollection = 0;
              startCollection();
            }
          } else if (msg.type === 'end') {
            finished = true;
            controller.close();
            port.postMessage({ type: 'done' });
          } else if (msg.type === 'abort') {
            finished = true;
            controller.error(new Error(msg.message || 'transfer failed'));
          } else {
            return;
          }
          if (waiting) {
            waiting();
            waiting = null;
          }
        };
      },
      pull() {
        if (finished) return undefined;
        return new Promise((resolve) => {
          waiting = resolve;
          port.postMessage({ type: 'credit', n: 1 });
        });
      },
      cancel() {
        // The user cancelled the download in the browser.
        finished = true;
        port.postMessage({ type: 'cancel' });
      },
    },
    { highWaterMark: 4 },
  );
  const headers = {
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': `attachment; filename="${asciiFallback(dl.name)}"; filename*=UTF-8''${encodeRFC5987(dl.name)}`,
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
  };
  if (typeof dl.size === 'number' && dl.size >= 0) headers['Content-Length'] = String(dl.size);
  e.respondWith(new Response(stream, { headers }));
});
