// The browser's data path (bundled to web/datapath.js, loaded by
// worker.js): moves the bytes of a file transfer between a File or a
// sink and the transit WebSocket, while the Go core keeps the
// protocol, the keys and the ack (core/wormhole.DataPath, wasm/datapath.go).
//
// One Go/wasm thread used to read, hash, seal and copy every byte through
// syscall/js. Here the stages overlap and the crypto runs in parallel:
//
//   send:    Blob stream (BYOB, 1 MiB batches) -> seal (crypto workers,
//            libsodium) -> in order -> the WebSocket (socket-writer.js
//            over a plain one); meanwhile the plaintext, in order ->
//            SHA-256 (the hash worker, hash-wasm)
//   receive: (receive.js) WebSocket messages -> split into whole records
//            -> open (crypto workers) -> in order -> SHA-256 (the hash
//            worker) -> sink
//
// Batches move between the threads by transfer, never by copy. SHA-256
// cannot be split, so it has a worker of its own, fed in order; sealing
// and opening can (each record's nonce is its number), so they spread
// over the crypto workers.
//
// Every stage is bounded: at most `inFlight` batches are out at a time,
// the WebSocketStream is read only when a batch may start (so TCP pushes
// back on the peer), and the sink's credits (MessagePort) or awaited
// writes (FileSystemWritableFileStream) hold back the rest.
import { receive } from './receive.js';
import { socketWriter } from './socket-writer.js';

const RECORD = 64 << 10; // plaintext per record we send (core/transit.MaxPlain)
const BATCH = 1 << 20; // plaintext per batch (and WebSocket message) we send
const PROGRESS_EVERY = 4 << 20;

/** DataPathError: name is what wasm/datapath.go maps to a Go sentinel. */
class DataPathError extends Error {
  constructor(name, message) {
    super(message);
    this.name = name;
  }
}

// ---- the crypto workers ----------------------------------------------

let pool = null;
let hashPool = null;
let sessions = 0;

/** Workers: one per core, at most 4 (set self.WASMHOLE_CRYPTO_WORKERS to override). */
function workerCount() {
  const forced = Number(self.WASMHOLE_CRYPTO_WORKERS);
  if (forced > 0) return forced;
  return Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2));
}

// The page starts the workers (wasmhole.js _spawn) and hands this one a
// MessagePort to each: a worker that starts workers of its own now and
// then wedged in Firefox. Requests in flight, by id.
const spawning = new Map();
let spawns = 0;

class Pool {
  constructor(n) {
    this.n = n;
    /** @type {MessagePort[]} */
    this.ports = [];
    this.next = 0;
    this.seq = 0;
    this.calls = new Map();
    /** @type {DataPathError | null} */
    this.failed = null;
    // Per worker: whether it said it is ready and how long after it was
    // asked for, batches sent and answered (status(), for a transfer that
    // stalls).
    this.state = [];
    const created = performance.now();
    const resolvers = [];
    const ready = [];
    for (let i = 0; i < n; i++) {
      this.state.push({ ready: false, readyMs: -1, sent: 0, answered: 0 });
      ready.push(new Promise((resolve) => resolvers.push(resolve)));
    }
    /** Resolves to true once every worker is ready, false if one failed. */
    this.ready = Promise.all(ready).then((r) => r.every(Boolean));
    const adopt = (ports) => {
      ports.forEach((port, i) => {
        const st = this.state[i];
        port.onmessage = (e) => {
          const m = e.data || {};
          if (m.id === undefined) {
            // {ready}: the worker's libraries are loaded.
            st.ready = m.ready === true;
            st.readyMs = Math.round(performance.now() - created);
            if (!st.ready) this.fail(`crypto worker failed to start: ${m.error}`);
            resolvers[i](st.ready);
            return;
          }
          const c = this.calls.get(m.id);
          if (!c) return;
          this.calls.delete(m.id);
          st.answered++;
          if (m.error) c.reject(new DataPathError(m.error.name, m.error.message));
          else c.resolve(m);
        };
      });
      this.ports = ports;
    };
    this.adopted = new Promise((resolve) => {
      const id = ++spawns;
      spawning.set(id, {
        spawned: (ports) => {
          adopt(ports);
          resolve(undefined);
        },
        failed: (message) => {
          this.fail(`crypto worker failed: ${message}`);
          for (const r of resolvers) r(false);
        },
      });
      self.postMessage({ spawn: { id, n } });
    });
  }

  // A worker that failed may never answer again: calls fail at once
  // instead of waiting for it.
  fail(message) {
    this.failed = this.failed || new DataPathError('Error', message);
    for (const c of this.calls.values()) c.reject(this.failed);
    this.calls.clear();
  }

  get size() {
    return this.n;
  }

  /** Runs one batch on the next worker (round robin), once it is there. */
  run(msg, transfer) {
    const id = ++this.seq;
    const i = this.next;
    this.next = (this.next + 1) % this.n;
    return this.adopted.then(
      () =>
        new Promise((resolve, reject) => {
          if (this.failed) throw this.failed;
          this.calls.set(id, { resolve, reject });
          this.state[i].sent++;
          this.ports[i].postMessage({ ...msg, id }, transfer);
        }),
    );
  }

  status() {
    return this.state.map((st) => ({ ...st }));
  }
}

function getPool() {
  if (!pool) pool = new Pool(workerCount());
  return pool;
}

/**
 * Hash is one SHA-256 in the hash worker. update hands it batches in
 * order and resolves with them when hashed; digest resolves to the hash.
 */
function getHashPool() {
  if (!hashPool) hashPool = new Pool(1);
  return hashPool;
}

/**
 * whenReady(ms) resolves to true once every worker of the data path has
 * loaded its libraries, or to false if one failed or ms passed first: the
 * Go core then moves the transfer's bytes itself rather than hand them to
 * workers that may never answer.
 */
function whenReady(ms) {
  let timer;
  const late = new Promise((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const all = Promise.all([getPool().ready, getHashPool().ready]).then((r) => r.every(Boolean));
  return Promise.race([all, late]).then((ok) => {
    clearTimeout(timer);
    if (!ok) console.warn('wasmhole: the data path workers did not start; the Go core moves the bytes instead');
    return ok;
  });
}

class Hash {
  constructor() {
    getHashPool();
    this.session = ++sessions;
    this.ended = false;
  }

  /** @param {Uint8Array[]} parts views from offset 0 of their buffers */
  update(parts) {
    const lengths = parts.map((u) => u.length); // before the transfer detaches them
    const bufs = parts.map((u) => u.buffer);
    return hashPool
      .run({ op: 'hash', session: this.session, bufs, lengths }, bufs)
      .then((r) => r.bufs.map((b, i) => new Uint8Array(b, 0, lengths[i])));
  }

  async digest() {
    this.ended = true;
    const r = await hashPool.run({ op: 'hash', session: this.session, bufs: [], lengths: [], end: true }, []);
    return r.digest;
  }

  /** Frees the worker's state after a failure. */
  drop() {
    if (!this.ended) this.digest().catch(() => {});
  }
}

// ---- helpers ------------------------------------------------------------

/** A job: {done: Promise, cancel()}; cancel makes every await below fail. */
function job(run) {
  let cancelled = null;
  let rejectNow;
  const stop = new Promise((_, reject) => {
    rejectNow = reject;
  });
  stop.catch(() => {});
  const ctl = {
    check() {
      if (cancelled) throw cancelled;
    },
    // race makes a wait end early on cancel.
    race(p) {
      return Promise.race([p, stop]);
    },
  };
  const done = run(ctl);
  done.catch(() => {});
  return {
    done,
    cancel(reason) {
      if (!cancelled) {
        cancelled = new DataPathError('cancelled', String(reason || 'cancelled'));
        rejectNow(cancelled);
      }
    },
  };
}

function progress(fn) {
  let last = 0;
  return (n, force) => {
    if (fn && (force || n - last >= PROGRESS_EVERY)) {
      last = n;
      fn(n);
    }
  };
}

function netError(err) {
  return err instanceof DataPathError ? err : new DataPathError('net', String((err && err.message) || err));
}

// ---- send -----------------------------------------------------------------

/**
 * Reads the blob from offset in BATCH-sized pieces, as fast as the
 * browser hands them over; a byte stream with a BYOB reader reads straight
 * into our buffers, other streams are copied into them.
 */
async function* readBatches(blob, offset, size, ctl, free) {
  const stream = blob.slice(offset, offset + size).stream();
  let byob;
  try {
    byob = stream.getReader({ mode: 'byob' });
  } catch {
    byob = null;
  }
  const reader = byob || stream.getReader();
  let pending = null; // default reader: a chunk partly used
  let got = 0;
  try {
    while (got < size) {
      const want = Math.min(BATCH, size - got);
      const reuse = free.pop();
      let buf = reuse && reuse.byteLength >= want ? new Uint8Array(reuse, 0, want) : new Uint8Array(want);
      let fill = 0;
      while (fill < want) {
        let r;
        if (byob) {
          r = await ctl.race(byob.read(buf.subarray(fill)));
          if (r.done) break;
          buf = new Uint8Array(r.value.buffer, 0, want); // the same memory, handed back
          fill += r.value.byteLength;
          continue;
        }
        if (!pending) {
          r = await ctl.race(reader.read());
          if (r.done) break;
          pending = r.value;
        }
        const k = Math.min(pending.length, want - fill);
        buf.set(pending.subarray(0, k), fill);
        fill += k;
        pending = k === pending.length ? null : pending.subarray(k);
      }
      if (fill < want) {
        throw new DataPathError('io', `read file at ${got + fill} of ${size}: the file shrank after it was chosen`);
      }
      got += fill;
      yield buf;
    }
  } catch (err) {
    if (err instanceof DataPathError) throw err;
    throw new DataPathError('io', `read file: ${(err && err.message) || err}`);
  } finally {
    reader.cancel().catch(() => {});
  }
}

/**
 * send({writer, key, next, blob, offset, size, onProgress}) -> job whose
 * done resolves to the SHA-256 (Uint8Array) of the bytes sent.
 */
function send(a) {
  return job(async (ctl) => {
    const hash = new Hash();
    try {
      const p = getPool();
      // Batches in flight: enough to keep every worker busy while others
      // wait for a core (each batch hops between threads, and on a busy
      // machine each hop waits its turn).
      const inFlight = 2 * p.size + 4;
      const report = progress(a.onProgress);
      // Where the last send waited, in ms (stats.sendWaits; the benchmark
      // prints it): what the pipeline is short of.
      const waits = { read: 0, space: 0, seal: 0, socket: 0 };
      stats.sendWaits = waits;
      const timed = async (k, promise) => {
        const t = performance.now();
        try {
          return await ctl.race(promise);
        } finally {
          waits[k] += performance.now() - t;
        }
      };
      // Buffers come back for reuse: fresh large ArrayBuffers cost page
      // faults and garbage collection, which Chromium's profile showed.
      const freePlain = [];
      const freeOut = [];
      const sealed = []; // batches being sealed, in order: the writer takes them
      const hashing = []; // batches handed to the hash worker, in order
      let wake = null; // the reader, waiting for room
      const room = () => sealed.length < inFlight && hashing.length < inFlight;
      const poke = () => {
        if (wake) wake();
      };
      let more = null; // the writer, waiting for a batch
      let reading = true;
      // failed rejects with the first failure of the writer, a seal or a
      // hash, to stop the reader waiting for room.
      let fail;
      const failed = new Promise((_, reject) => (fail = reject));
      failed.catch(() => {});

      // The writer: sealed batches to the socket, in order, while the
      // reader goes on reading.
      const writer = (async () => {
        let sent = 0;
        for (;;) {
          if (!sealed.length) {
            if (!reading) break;
            await timed('read', new Promise((resolve) => (more = resolve)));
            continue;
          }
          const { out, outLength, bytes } = await timed('seal', sealed[0]);
          sealed.shift();
          poke();
          await timed('socket', a.writer.ready).catch((e) => {
            throw netError(e);
          });
          ctl.check();
          a.writer.write(new Uint8Array(out, 0, outLength)).then(
            () => {
              if (freeOut.length < inFlight) freeOut.push(out);
            },
            () => {},
          );
          sent += bytes;
          report(sent);
        }
        report(sent, true);
      })();
      writer.catch(fail);

      let counter = a.next;
      let posted = Promise.resolve(); // the last batch posted to the hash worker
      try {
        for await (const buf of readBatches(a.blob, a.offset, a.size, ctl, freePlain)) {
          const first = counter;
          const bytes = buf.length;
          counter += Math.ceil(bytes / RECORD);
          // Seal first and send as soon as sealed; the plaintext, handed
          // back by the crypto worker, goes to the hash worker in file
          // order, each batch as soon as it and the one before are there.
          const dst = freeOut.pop();
          const seal = p.run(
            { op: 'seal', key: a.key, first, plain: buf.buffer, length: bytes, recordSize: RECORD, dst },
            dst ? [buf.buffer, dst] : [buf.buffer],
          );
          let hashed;
          const done = new Promise((resolve) => (hashed = resolve));
          posted = Promise.all([seal, posted]).then(([r]) => {
            hashed(
              hash.update([new Uint8Array(r.plain, 0, bytes)]).then(([plain]) => {
                hashing.shift();
                freePlain.push(plain.buffer);
                poke();
              }),
            );
          });
          posted.catch(fail);
          done.catch(fail);
          hashing.push(done);
          sealed.push(seal.then((r) => ({ out: r.out, outLength: r.outLength, bytes })));
          sealed[sealed.length - 1].catch(() => {});
          if (more) more();
          more = null;
          while (!room()) {
            await timed('space', Promise.race([new Promise((resolve) => (wake = resolve)), failed]));
            wake = null;
          }
        }
      } finally {
        reading = false;
        if (more) more();
      }
      await ctl.race(writer);
      await ctl.race(posted);
      await ctl.race(Promise.all(hashing));
      // The last writes are queued in order; not awaited, since a receiver
      // may close as soon as it has everything and sent its ack (the proof
      // of delivery, which a read the core started before this job takes
      // in: core/transitnet.JSWriter).
      return await ctl.race(hash.digest());
    } finally {
      hash.drop();
    }
  });
}

export { DataPathError, getPool, Hash, job, progress, netError };

// stats counts the transfers the data path took, and shows its workers
// (worker.js's memory()).
const stats = {
  sends: 0,
  receives: 0,
  get workers() {
    return { crypto: pool ? pool.status() : null, hash: hashPool ? hashPool.status() : null };
  },
};

self.wasmholeDataPath = {
  stats,
  whenReady,
  /** The page's answer to a Pool's request: a port to each new worker. */
  spawned({ id, ports }) {
    spawning.get(id)?.spawned(ports);
  },
  /** The page saw one of the workers fail to start. */
  spawnFailed({ id, message }) {
    spawning.get(id)?.failed(message);
  },
  /** Starts the workers ahead of a transfer (wasm/datapath.go). */
  warm() {
    getPool();
    getHashPool();
  },
  send(a) {
    stats.sends++;
    // a.socket: a sending page's plain WebSocket (socket-writer.js).
    return send(a.socket ? { ...a, writer: socketWriter(a.socket) } : a);
  },
  receive(a) {
    stats.receives++;
    return receive(a);
  },
};
