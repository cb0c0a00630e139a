// The receiving half of the data path (see datapath.js):
//
//   WebSocketStream messages -> cut into batches of whole records (this
//   thread, Framer) -> open (crypto workers, in parallel) -> in order ->
//   SHA-256 (the hash worker) -> the sink
//
// The thread that reads the WebSocketStream is the busiest one: Chromium
// spends more CPU per message handing it over than on the crypto of its
// bytes, so this thread only reads, cuts and dispatches, and everything
// that can wait is pipelined behind it: up to `inFlight` batches are being
// opened, hashed or written at once. The sink gets a batch's plaintext
// after the hash worker has seen it, not before: a MessagePort sink takes
// its chunks by transfer (no copy), so a chunk can be in one place at a
// time, and hashing first keeps it copy-free; the hash runs on a thread
// of its own, so it only adds a batch of latency, not a serial stage.
// Only the final ack waits for the digest (the Go core sends it after
// this job resolves, and only then is the transfer done).
import { DataPathError, getPool, Hash, job, progress, netError } from './datapath.js';

const RECV_BATCH = 1 << 20; // framed bytes per batch we open
const PIECE = 256 << 10; // chunks posted to a MessagePort sink (web/README.md)
const HEADER = 4;
const MAX_RECORD = 64 << 20;

/** Writes plaintext chunks to a MessagePort sink (web/README.md, "Sinks"). */
class PortSink {
  constructor(port, credits) {
    this.port = port;
    this.credits = credits;
    this.err = null;
    this.wake = null;
    port.onmessage = (e) => {
      const m = e.data || {};
      if (m.type === 'credit') this.credits += m.n;
      else if (m.type === 'error') this.err = new DataPathError('save-failed', String(m.message));
      else if (m.type === 'cancel') this.err = new DataPathError('cancelled', 'the download was cancelled');
      if (this.wake) this.wake();
    };
  }

  async write(u8, ctl) {
    while (this.credits === 0 && !this.err) {
      await ctl.race(
        new Promise((resolve) => {
          this.wake = resolve;
        }),
      );
    }
    if (this.err) throw this.err;
    const ab = u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength ? u8.buffer : u8.slice().buffer;
    this.port.postMessage({ type: 'chunk', data: ab }, [ab]);
    this.credits--;
  }

  /** Hands the port back: the credits left, and an error it reported. */
  release() {
    this.port.onmessage = null;
    return { credits: this.credits, error: this.err ? this.err.name : '', message: this.err ? this.err.message : '' };
  }
}

/** Writes to a FileSystemWritableFileStream; Go closes or aborts it. */
class FileSink {
  constructor(writable) {
    this.writable = writable;
  }
  async write(u8, ctl) {
    try {
      await ctl.race(this.writable.write(u8));
    } catch (err) {
      if (err instanceof DataPathError) throw err;
      throw new DataPathError('save-failed', `write file: ${(err && err.message) || err}`);
    }
  }
  release() {
    return { credits: 0, error: '', message: '' };
  }
}

/**
 * receive({reader, key, next, buffered, size, sink: {port, credits} |
 * {writable}, onProgress}) -> job whose done resolves to {sha256}: exactly
 * size bytes of plaintext went to the sink. Settled either way, the job
 * also carries what to give back to the port's Go writer: credits,
 * sinkError (the sink's error name) and sinkMessage (what it said).
 */
export function receive(a) {
  const sink = a.sink.port ? new PortSink(a.sink.port, a.sink.credits) : new FileSink(a.sink.writable);
  // What the job gives back, kept outside it: a job that fails before its
  // first await runs its finally before job() has returned.
  const back = { credits: a.sink.credits || 0, sinkError: '', sinkMessage: '' };
  const j = job(async (ctl) => {
    const hash = new Hash();
    try {
      const p = getPool();
      const inFlight = p.size + 2;
      const queue = [];
      let counter = a.next;
      let hashed = Promise.resolve(); // the last batch handed to the hash worker
      let taken = 0; // plaintext bytes handed to the hash worker
      let stored = 0;
      const report = progress(a.onProgress);
      const drain = async () => {
        const pieces = await ctl.race(queue.shift());
        for (const u8 of pieces) {
          const n = u8.length; // a port sink transfers u8: read it first
          await sink.write(u8, ctl);
          stored += n;
          report(stored);
        }
      };
      const framer = new Framer(a.size);
      const dispatch = async (batch) => {
        const opened = p
          .run(
            { op: 'open', key: a.key, first: counter, framed: batch.buf.buffer, length: batch.fill, pieceSize: PIECE },
            [batch.buf.buffer],
          )
          .then((r) => {
            if (framer.free.length < inFlight && r.framed.byteLength === RECV_BATCH) framer.free.push(r.framed);
            return r;
          });
        counter += batch.records;
        // Hash in batch order, whatever order the crypto workers finish in.
        hashed = Promise.all([opened, hashed]).then(([r]) => {
          const pieces = [];
          for (const ab of r.pieces) {
            let u8 = new Uint8Array(ab);
            if (taken + u8.length > a.size) u8 = u8.subarray(0, a.size - taken); // a record past the offer's end
            taken += u8.length;
            if (u8.length) pieces.push(u8);
          }
          return hash.update(pieces);
        });
        hashed.catch(() => {});
        queue.push(hashed);
        while (queue.length >= inFlight) await drain();
      };
      if (a.buffered && a.buffered.length) {
        for (const b of framer.push(a.buffered)) await dispatch(b);
      }
      while (!framer.complete) {
        let r;
        try {
          r = await ctl.race(a.reader.read());
        } catch (err) {
          throw netError(err);
        }
        if (r.done) {
          throw new DataPathError('net', `received ${framer.plain} of ${a.size} bytes: the connection closed`);
        }
        const v = typeof r.value === 'string' ? new TextEncoder().encode(r.value) : new Uint8Array(r.value);
        for (const b of framer.push(v)) await dispatch(b);
        release(r.value);
      }
      const last = framer.flush();
      if (last) await dispatch(last);
      while (queue.length) await drain();
      report(stored, true);
      return { sha256: await ctl.race(hash.digest()) };
    } finally {
      hash.drop();
      const rel = sink.release();
      back.credits = rel.credits;
      back.sinkError = rel.error;
      back.sinkMessage = rel.message;
    }
  });
  return Object.defineProperties(j, {
    credits: { get: () => back.credits },
    sinkError: { get: () => back.sinkError },
    sinkMessage: { get: () => back.sinkMessage },
  });
}

/**
 * release frees a WebSocketStream message the Framer has copied, now:
 * detaching an ArrayBuffer (transfer to length 0) gives its memory back at
 * once, while a dropped one waits for a full garbage collection of this
 * worker, which V8 starts only after tens of MiB of them (web/README.md,
 * "Memory while receiving"). A plain WebSocket's messages (jsreader_js.go
 * hands out views) are left alone.
 */
function release(value) {
  if (value instanceof ArrayBuffer && typeof value.transfer === 'function') value.transfer(0);
}

/**
 * Framer cuts the received byte stream into batches of whole records
 * (about RECV_BATCH framed bytes each) and stops after the records that
 * carry the offer's size. A record's buffer grows with the bytes that
 * arrive, so a lying length field costs no more than what was sent.
 */
export class Framer {
  constructor(size) {
    this.size = size;
    this.plain = 0; // plaintext bytes in the records cut so far
    this.complete = size === 0;
    this.hdr = new Uint8Array(HEADER);
    this.hdrFill = 0;
    this.need = 0; // body bytes still missing of the current record
    this.batch = null;
    this.free = []; // batch buffers back from the crypto workers
    this.regrown = 0; // bytes copied again to grow a batch (the tests read it)
  }

  *push(v) {
    let at = 0;
    while (at < v.length && !this.complete) {
      if (this.need === 0) {
        const k = Math.min(HEADER - this.hdrFill, v.length - at);
        this.hdr.set(v.subarray(at, at + k), this.hdrFill);
        this.hdrFill += k;
        at += k;
        if (this.hdrFill < HEADER) break;
        const len = new DataView(this.hdr.buffer).getUint32(0);
        if (len > MAX_RECORD) throw new DataPathError('too-large', `record length ${len} exceeds ${MAX_RECORD}`);
        if (len < 40) throw new DataPathError('short', `record length ${len}`);
        this.hdrFill = 0;
        this.need = len;
        this.len = len;
        if (this.batch && this.batch.fill + HEADER + len > RECV_BATCH && this.batch.records > 0) {
          yield this.take();
        }
        this.append(this.hdr, HEADER + len);
        continue;
      }
      const k = Math.min(this.need, v.length - at);
      this.append(v.subarray(at, at + k), this.need);
      at += k;
      this.need -= k;
      if (this.need === 0) {
        this.batch.records++;
        this.plain += this.len - 40;
        if (this.plain >= this.size) this.complete = true;
        if (this.batch.fill >= RECV_BATCH) yield this.take();
      }
    }
  }

  // append copies bytes into the batch, growing it at most geometrically
  // ahead of what arrived (room is what the current record still needs).
  append(bytes, room) {
    if (!this.batch) {
      const reuse = this.free.pop();
      this.batch = { buf: reuse ? new Uint8Array(reuse) : new Uint8Array(RECV_BATCH), fill: 0, records: 0 };
    }
    const b = this.batch;
    if (b.fill + bytes.length > b.buf.length) {
      const grown = new Uint8Array(Math.max(b.fill + bytes.length, Math.min(2 * b.buf.length, b.fill + room)));
      grown.set(b.buf.subarray(0, b.fill));
      this.regrown += b.fill;
      b.buf = grown;
    }
    b.buf.set(bytes, b.fill);
    b.fill += bytes.length;
  }

  take() {
    const b = this.batch;
    this.batch = null;
    return b;
  }

  /** The last, partly filled batch once every record is in. */
  flush() {
    return this.batch && this.batch.records > 0 ? this.take() : null;
  }
}
