// @ts-check
// wasmhole.js: the JS API of wasmhole (magic-wormhole in the browser).
// The page (app.js) is built on it; any other app can use it with its own
// appid. Documented in README.md next to this file.
//
// The Go client runs in a dedicated Web Worker (worker.js); every method
// here is a message to it. Nothing here touches the network itself.

const DEFAULT_APPID = 'lothar.com/wormhole/text-or-file-xfer';

/** WasmholeError carries a stable `code` the page can switch on. */
export class WasmholeError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'WasmholeError';
    this.code = code;
  }
}

// Error codes the Go side sends as `name`; anything else becomes "error".
const CODES = new Set([
  'wrong-code',
  'rejected',
  'crowded',
  'peer-cancelled',
  'peer-gone',
  'unwelcome',
  'relay-unreachable',
  'cancelled',
  'bad-code',
  'save-failed',
  'unpack-failed',
  'too-large',
  'overrun',
  'integrity',
  'transfer-failed',
]);

function toError(e) {
  if (e instanceof WasmholeError) return e;
  const code = e && CODES.has(e.name) ? e.name : e && e.name === 'IntegrityError' ? 'integrity' : 'error';
  return new WasmholeError(code, (e && e.message) || String(e));
}

function randomID() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * Relays describe where the transit relay is. One relay hint can carry a
 * WebSocket URL (what the browser uses) and a TCP address (what a stock CLI
 * uses to reach the same relay without --transit-helper).
 * @typedef {{websocket?: string[], tcp?: string[], name?: string}} Relay
 * @typedef {{appID?: string, mailboxURL?: string, relays?: Relay[], codeLength?: number,
 *            appVersions?: object}} ClientOptions
 */

export class Wasmhole {
  /**
   * Starts the worker and loads the wasm (checked against its SHA-256).
   * @param {{baseURL?: string|URL, client?: ClientOptions, dataPath?: 'js'|'go', cryptoWorkers?: number,
   *          receiveBacklog?: number}} [opts]
   *   baseURL: folder holding worker.js, wasm_exec.js, wasmhole.wasm and
   *   sw.js (default: the folder of this module). client: defaults for
   *   every wormhole this instance opens. dataPath: 'go' moves file bytes
   *   in the Go core instead of the JS data path (for comparison);
   *   cryptoWorkers: how many workers seal and open records (default: one
   *   per core, at most 4). receiveBacklog: in browsers without
   *   WebSocketStream, the most a receive may hold in memory of bytes that
   *   arrived faster than its sink stored them before it fails with
   *   "overrun" (default 512 MiB).
   */
  static async load(opts = {}) {
    const base = new URL(opts.baseURL || './', import.meta.url);
    const url = new URL('worker.js', base);
    if (opts.dataPath === 'go') url.searchParams.set('datapath', 'go');
    if (opts.cryptoWorkers > 0) url.searchParams.set('crypto-workers', String(opts.cryptoWorkers));
    if (opts.receiveBacklog > 0) url.searchParams.set('receive-backlog', String(opts.receiveBacklog));
    const worker = new Worker(url);
    const wh = new Wasmhole(worker, base, opts.client || {});
    await wh._ready;
    return wh;
  }

  constructor(worker, base, client) {
    this._worker = worker;
    this._base = base;
    this.client = { appID: DEFAULT_APPID, ...client };
    this._seq = 0;
    this._calls = new Map();
    this._events = new Map(); // call id -> event listener
    /** @type {Worker[]} the data path's workers (_spawn) */
    this._dataWorkers = [];
    this._ready = new Promise((resolve, reject) => {
      this._readyCallbacks = { resolve, reject };
    });
    worker.onmessage = (e) => this._onMessage(e.data);
    worker.onerror = (e) => {
      e.preventDefault();
      this._fail(new WasmholeError('error', `worker failed: ${e.message || 'could not start'}`));
    };
  }

  _fail(err) {
    this._dead = err;
    this._readyCallbacks.reject(err);
    for (const c of this._calls.values()) c.reject(err);
    this._calls.clear();
  }

  // The data path's workers (web/datapath/) are started here, by the
  // page, and reach the wasm worker as MessagePorts: a worker that started
  // workers of its own now and then wedged in Firefox, with every call
  // into it left unanswered.
  _spawn({ id, n }) {
    const url = new URL('datapath-worker.js', this._base);
    const ports = [];
    for (let i = 0; i < n; i++) {
      const w = new Worker(url);
      w.onerror = (e) => {
        e.preventDefault();
        this._worker.postMessage({ spawnFailed: { id, message: e.message || 'could not start' } });
      };
      const ch = new MessageChannel();
      w.postMessage({ port: ch.port1 }, [ch.port1]);
      ports.push(ch.port2);
      this._dataWorkers.push(w);
    }
    this._worker.postMessage({ spawned: { id, ports } }, ports);
  }

  _onMessage(m) {
    if (m.spawn) {
      this._spawn(m.spawn);
      return;
    }
    if (m.ready) {
      this._readyCallbacks.resolve();
      return;
    }
    if (m.fatal) {
      this._fail(toError(m.fatal));
      return;
    }
    if ('event' in m) {
      // Events may outlive the call (a send resolves with the code, then
      // reports progress until the transfer ends).
      const fn = this._events.get(m.id);
      if (fn) fn(m.event);
      return;
    }
    const c = this._calls.get(m.id);
    if (!c) return;
    this._calls.delete(m.id);
    if (!c.keepEvents) this._events.delete(m.id);
    if (m.error) c.reject(toError(m.error));
    else c.resolve(m.result);
  }

  /** @returns {Promise<any>} */
  _call(op, args = [], onEvent = null, transfer = [], keepEvents = false) {
    if (this._dead) return Promise.reject(this._dead);
    const id = ++this._seq;
    this._lastID = id;
    if (onEvent) this._events.set(id, onEvent);
    return new Promise((resolve, reject) => {
      this._calls.set(id, { resolve, reject, keepEvents });
      this._worker.postMessage({ id, op, args }, transfer);
    });
  }

  _clientOptions(opts = {}) {
    const o = { ...this.client };
    for (const k of ['appID', 'mailboxURL', 'relays', 'codeLength', 'appVersions', 'resumeTimeout']) {
      if (opts[k] !== undefined) o[k] = opts[k];
    }
    if (o.appVersions !== undefined) o.appVersions = JSON.stringify(o.appVersions);
    return o;
  }

  /** Stops the worker; every handle becomes unusable. */
  terminate() {
    this._worker.terminate();
    for (const w of this._dataWorkers) w.terminate();
    this._fail(new WasmholeError('cancelled', 'wasmhole was terminated'));
  }

  // ---- utilities -------------------------------------------------------

  /** PGP-word completions of a partly typed code ("7-gui" -> ["7-guitarist"]). */
  complete(prefix) {
    return this._call('complete', [String(prefix)]);
  }

  /** Resolves to null for a well-formed code, else to a message to show. */
  async validateCode(code) {
    const msg = await this._call('validateCode', [String(code)]);
    return msg || null;
  }

  /** {wasm, jsHeap}: memory of the worker, in bytes. */
  memory() {
    return this._call('memory');
  }

  // ---- low level: one mailbox session -------------------------------

  /**
   * Opens a wormhole (mailbox connection) for any appid. With
   * opts.forSend the wormhole is meant for a later send (the wormhole
   * option of sendFile and friends) and also advertises resume
   * (docs/resume.md), as the send's own wormhole would.
   * @param {ClientOptions & {forSend?: boolean}} [opts]
   * @returns {Promise<Wormhole>}
   */
  async open(opts = {}) {
    const h = await this._call('open', [{ ...this._clientOptions(opts), forSend: !!opts.forSend }]);
    return new Wormhole(this, h);
  }

  // ---- file transfer v1 ------------------------------------------------

  /**
   * Sends a text message. opts: ClientOptions plus code (use this code
   * instead of allocating one), onCode(code), onProgress(sent, total),
   * onStatus(status, event) where status is "waiting", "connecting",
   * "transferring" or "reconnecting" (between two wasmhole ends a lost
   * connection is resumed, docs/resume.md; event.held is the bytes the
   * receiver keeps), resumeTimeout (ms, negative = never resume), and
   * wormhole (a Wormhole from open(), perhaps with allocateCode() done:
   * the send takes it over and reports its code at once).
   * @returns {Promise<Transfer>} once the code is known.
   */
  sendText(text, opts = {}) {
    return this._send('sendText', [String(text)], opts);
  }

  /** Sends one File (or Blob with a name). Read in 1 MiB slices, never whole. */
  sendFile(file, opts = {}) {
    const name = opts.name || file.name || 'file';
    return this._send('sendFile', [file, name], opts);
  }

  /**
   * Sends a folder as a directory offer; the zip is streamed and its size
   * computed ahead. entries: [{path: "dir/sub/a.txt", file: File}] and
   * [{path: "dir/empty/", dir: true}] for empty folders; paths are relative
   * to the sent folder, named dirname.
   */
  sendDirectory(dirname, entries, opts = {}) {
    const list = entries.map((e) =>
      e.dir ? { path: e.path, dir: true } : { path: e.path, file: e.file, modified: e.file.lastModified || 0 },
    );
    return this._send('sendDirectory', [String(dirname), list], opts);
  }

  async _send(op, args, opts) {
    const t = new Transfer(this);
    const onEvent = (ev) => t._event(ev, opts);
    const client = this._clientOptions(opts);
    // A wormhole opened (and its code allocated) ahead: the send takes it over.
    if (opts.wormhole) client.wormhole = opts.wormhole._h;
    const p = this._call(op, [client, opts.code || '', ...args], onEvent, [], true);
    const id = this._lastID;
    let r;
    try {
      r = await p;
    } catch (err) {
      this._events.delete(id);
      throw err;
    }
    t._handle = r.handle;
    t.code = r.code;
    t.done = this._call('wait', [r.handle]).finally(() => {
      this._events.delete(id);
      this._call('cancel', [r.handle]).catch(() => {});
    });
    // Callers that ignore done should not see an unhandled rejection.
    t.done.catch(() => {});
    return t;
  }

  /**
   * Starts receiving with a code. Resolves with the Offer once the sender's
   * offer arrived (text offers are already complete).
   * @returns {Promise<Offer>}
   */
  async receive(code, opts = {}) {
    const o = await this._call('receive', [this._clientOptions(opts), String(code)], (ev) => {
      if (ev.type === 'status' && opts.onStatus) opts.onStatus(ev.status);
    });
    return new Offer(this, o);
  }

  /**
   * The receive backlog: bytes that arrived faster than the sink stored
   * them and wait in memory (only in browsers without WebSocketStream).
   * Resolves to {queued, peak}: now, and the most during the last receive.
   * @returns {Promise<{queued: number, peak: number}>}
   */
  backlog() {
    return this._call('backlog');
  }

  // ---- sinks: where an accepted offer's bytes go ----------------------

  /**
   * A streamed download through the service worker (sw.js): bytes go to
   * the browser's download manager as they arrive. Resolves to null where
   * service workers are unavailable (non-secure context, some private modes).
   */
  async downloadSink(name, size) {
    const reg = await this._serviceWorker();
    if (!reg) return null;
    const id = randomID();
    const ch = new MessageChannel();
    const sw = reg.active;
    // Wait until the service worker holds the port, so the iframe's fetch
    // cannot overtake the registration.
    const registered = new Promise((resolve) => {
      const onMsg = (e) => {
        if (e.data && e.data.type === 'download-registered' && e.data.id === id) {
          navigator.serviceWorker.removeEventListener('message', onMsg);
          resolve(true);
        }
      };
      navigator.serviceWorker.addEventListener('message', onMsg);
      navigator.serviceWorker.startMessages();
      setTimeout(() => resolve(false), 5000);
    });
    sw.postMessage({ type: 'download', id, name, size }, [ch.port2]);
    if (!(await registered)) return null;
    const url = new URL(`dl/${id}/${encodeURIComponent(name)}`, this._base);
    let frame = null;
    let keepAlive = null;
    const start = () => {
      frame = document.createElement('iframe');
      frame.hidden = true;
      frame.title = 'download';
      frame.src = url.href;
      document.body.appendChild(frame);
      keepAlive = setInterval(() => sw.postMessage({ type: 'ping' }), 10000);
    };
    const stop = () => {
      clearInterval(keepAlive);
      // Removing the frame too early would cancel the download.
      if (frame) setTimeout(() => frame.remove(), 60000);
    };
    return { kind: 'port', port: ch.port1, start, stop, url: url.href };
  }

  /** Registers sw.js (once) and waits until it is active. */
  async _serviceWorker() {
    if (!('serviceWorker' in navigator) || !window.isSecureContext) return null;
    if (!this._swReg) {
      this._swReg = (async () => {
        const scope = new URL('dl/', this._base);
        const reg = await navigator.serviceWorker.register(new URL('sw.js', this._base), { scope: scope.pathname });
        const sw = reg.installing || reg.waiting || reg.active;
        if (sw && sw.state !== 'activated') {
          await new Promise((resolve) => {
            const check = () => {
              if (sw.state === 'activated' || sw.state === 'redundant') resolve();
            };
            sw.addEventListener('statechange', check);
            check();
          });
        }
        return reg.active ? reg : null;
      })().catch(() => null);
    }
    return this._swReg;
  }

  /** Registers the service worker ahead of time, so Accept starts at once. */
  prepareDownloads() {
    return this._serviceWorker().then((r) => !!r);
  }

  /**
   * An in-memory sink for small files where nothing else works: resolves
   * sink.blob() after the transfer. Refuses offers over maxBytes.
   */
  blobSink(maxBytes = Wasmhole.BLOB_LIMIT) {
    const ch = new MessageChannel();
    const parts = [];
    let got = 0;
    let resolveBlob;
    let rejectBlob;
    const blob = new Promise((res, rej) => {
      resolveBlob = res;
      rejectBlob = rej;
    });
    blob.catch(() => {});
    ch.port1.onmessage = (e) => {
      const m = e.data;
      if (m.type === 'chunk') {
        got += m.data.byteLength;
        if (got > maxBytes) {
          ch.port1.postMessage({
            type: 'error',
            message: `larger than the ${fmtLimit(maxBytes)} this browser can hold in memory`,
          });
          rejectBlob(new WasmholeError('too-large', 'too large for memory'));
          return;
        }
        parts.push(m.data);
        ch.port1.postMessage({ type: 'credit', n: 1 });
      } else if (m.type === 'end') {
        resolveBlob(new Blob(parts, { type: 'application/octet-stream' }));
        parts.length = 0;
        ch.port1.postMessage({ type: 'done' });
      } else if (m.type === 'abort') {
        parts.length = 0;
        rejectBlob(new WasmholeError('transfer-failed', m.message));
      }
    };
    return {
      kind: 'port',
      port: ch.port2,
      blob: () => blob,
      maxBytes,
      start() {
        ch.port1.postMessage({ type: 'credit', n: 8 });
      },
    };
  }

  /** A sink writing to a FileSystemFileHandle (showSaveFilePicker). */
  fileSink(handle) {
    return { kind: 'file', handle };
  }

  /**
   * A sink that unpacks a directory offer into a FileSystemDirectoryHandle
   * (showDirectoryPicker), in a new subfolder named after the offer. The zip
   * is spooled to a temporary file in that folder and removed afterwards.
   */
  directorySink(handle) {
    return { kind: 'directory', handle };
  }
}

/** The most an in-memory Blob download may hold (small files only). */
Wasmhole.BLOB_LIMIT = 200 * 1024 * 1024;

function fmtLimit(n) {
  return n >= 1048576 ? `${Math.round(n / 1048576)} MiB` : `${Math.round(n / 1024)} KiB`;
}

/** A low-level wormhole: one mailbox session with a peer. */
export class Wormhole {
  constructor(wh, handle) {
    this._wh = wh;
    this._h = handle;
  }
  /** Allocates a nameplate and makes a code; resolves to the code. */
  allocateCode() {
    return this._wh._call('allocateCode', [this._h]);
  }
  /** Uses a code typed by a person (or agreed out of band). */
  setCode(code) {
    return this._wh._call('setCode', [this._h, String(code)]);
  }
  /** The code, once allocated or set. */
  code() {
    return this._wh._call('code', [this._h]);
  }
  /** Waits for key confirmation; resolves to the verifier (hex). */
  waitVerified() {
    return this._wh._call('waitVerified', [this._h]);
  }
  /** Sends one app message (Uint8Array, ArrayBuffer or string), encrypted, in order. */
  send(data) {
    return this._wh._call('send', [this._h, data]);
  }
  /** Receives the next app message as a Uint8Array. */
  receive() {
    return this._wh._call('receive', [this._h]);
  }
  /** Derives n bytes (Uint8Array) for purpose from the shared key. */
  deriveKey(purpose, n = 32) {
    return this._wh._call('deriveKey', [this._h, String(purpose), n]);
  }
  /** Closes the mailbox with a mood ("happy", "lonely", "errory", ...). */
  close(mood = 'happy') {
    return this._wh._call('close', [this._h, mood]);
  }
}

/** A running send: code, done, verifier(), cancel(). */
export class Transfer {
  constructor(wh) {
    this._wh = wh;
    this._handle = 0;
    /** @type {string} */
    this.code = '';
    /** Resolves only after the receiver acknowledged a matching SHA-256. */
    this.done = null;
  }

  _event(ev, opts) {
    if (ev.type === 'code' && opts.onCode) opts.onCode(ev.code);
    else if (ev.type === 'progress' && opts.onProgress) opts.onProgress(ev.sent, ev.total);
    else if (ev.type === 'status' && opts.onStatus) opts.onStatus(ev.status, ev);
  }

  /** The verifier (hex) once the peer connected. */
  verifier() {
    return this._wh._call('verifier', [this._handle]);
  }

  /** Aborts the transfer; the peer is told. */
  cancel() {
    return this._wh._call('cancel', [this._handle]);
  }
}

/** An incoming offer: kind "text" | "file" | "directory". */
export class Offer {
  constructor(wh, o) {
    this._wh = wh;
    this._h = o.handle;
    this.kind = o.kind;
    this.text = o.text;
    this.name = o.name;
    this.size = o.size;
    this.numFiles = o.numFiles;
    this.numBytes = o.numBytes;
    /** Hex verifier: equal on both sides when nobody is in the middle. */
    this.verifier = o.verifier;
  }

  /**
   * Accepts a file or directory offer and streams it into sink (from
   * downloadSink, blobSink, fileSink or directorySink). Resolves when every
   * byte is saved and the sender was sent the SHA-256 ack.
   */
  async accept(sink, opts = {}) {
    const args = [this._h, { kind: sink.kind, handle: sink.handle, port: sink.port }];
    const transfer = sink.port ? [sink.port] : [];
    const onEvent = (ev) => {
      if (ev.type === 'progress' && opts.onProgress) opts.onProgress(ev.got, ev.total, ev);
      if (ev.type === 'status' && opts.onStatus) opts.onStatus(ev.status, ev);
    };
    const p = this._wh._call('accept', args, onEvent, transfer);
    if (sink.start) sink.start();
    try {
      return await p;
    } finally {
      if (sink.stop) sink.stop();
    }
  }

  /** Says no; the sender sees "transfer rejected". */
  reject() {
    return this._wh._call('reject', [this._h]);
  }

  /** Aborts an accepted transfer; the sender is told. */
  cancel() {
    return this._wh._call('cancel', [this._h]);
  }
}
