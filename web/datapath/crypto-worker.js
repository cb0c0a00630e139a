// The crypto worker of the data path (bundled to web/datapath-worker.js):
// seals or opens one batch of transit records per message on the port the
// page hands it (below). Several of these run at once; the data path keeps
// their results in order.
//
// -> {id, op: "seal", key, first, plain: ArrayBuffer, length, recordSize, dst?: ArrayBuffer}
// <- {id, out: ArrayBuffer, outLength, plain}   (framed records in out, dst if
//                                               it was large enough; plain handed back)
// -> {id, op: "open", key, first, framed: ArrayBuffer, length, pieceSize}
// <- {id, pieces: ArrayBuffer[], records, bytes, framed}
// -> {id, op: "hash", session, bufs: ArrayBuffer[], lengths, end}
// <- {id, bufs, digest?}   (bufs handed back; digest once end is set)
// <- {id, error: {name, message}}
// <- {ready: true} | {ready: false, error}   (once, when libsodium is loaded or failed to)
//
// SHA-256 (hash-wasm: incremental, unlike WebCrypto's digest) runs in one
// of these workers on its own, so that hashing, which cannot be split,
// overlaps with everything else; it gets the batches in order.
import { createSHA256 } from 'hash-wasm';
import { ready, sealRecords, openRecords } from './records.js';

const hashers = new Map(); // session -> hasher

async function hash(m) {
  let h = hashers.get(m.session);
  if (!h) {
    h = createSHA256().then((x) => {
      x.init();
      return x;
    });
    hashers.set(m.session, h);
  }
  const hasher = await h;
  m.bufs.forEach((b, i) => hasher.update(new Uint8Array(b, 0, m.lengths[i])));
  let digest;
  if (m.end) {
    digest = hasher.digest('binary');
    hashers.delete(m.session);
  }
  reply({ id: m.id, bufs: m.bufs, digest }, m.bufs);
}

// The page that started this worker sends it {port}: the end of a
// MessageChannel whose other end the data path (in the wasm worker) holds.
// Everything after goes through that port.
/** @type {MessagePort | null} */
let port = null;
const reply = (msg, transfer = []) => port.postMessage(msg, transfer);

self.onmessage = (e) => {
  if (!e.data || !e.data.port || port) return;
  port = e.data.port;
  port.onmessage = onJob;
  // The data path waits for this before it hands a transfer to the
  // workers (whenReady in datapath.js).
  ready.then(
    () => reply({ ready: true }),
    (err) => reply({ ready: false, error: String((err && err.message) || err) }),
  );
};

async function onJob(e) {
  const m = e.data;
  try {
    if (m.op === 'hash') {
      await hash(m);
      return;
    }
    await ready;
    if (m.op === 'seal') {
      const out = sealRecords(
        m.key,
        m.first,
        new Uint8Array(m.plain, 0, m.length),
        m.recordSize,
        m.dst ? new Uint8Array(m.dst) : undefined,
      );
      reply({ id: m.id, out: out.buffer, outLength: out.length, plain: m.plain }, [out.buffer, m.plain]);
    } else if (m.op === 'open') {
      const r = openRecords(m.key, m.first, new Uint8Array(m.framed, 0, m.length), m.pieceSize);
      const pieces = r.pieces.map((p) => p.buffer);
      reply({ id: m.id, pieces, records: r.records, bytes: r.bytes, framed: m.framed }, [...pieces, m.framed]);
    } else {
      throw new Error(`unknown op ${m.op}`);
    }
  } catch (err) {
    reply({ id: m.id, error: { name: String(err.name || 'Error'), message: String(err.message || err) } });
  }
}
