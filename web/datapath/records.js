// Transit records (magic-wormhole's transit protocol), sealed and opened
// with libsodium's crypto_secretbox (XSalsa20-Poly1305), exactly as
// core/transit does in Go:
//
//   record = length (4 bytes, big-endian, = 24 + 16 + plaintext)
//            || nonce (24 bytes: the record counter, big-endian, zero-padded)
//            || secretbox(plaintext)  (16-byte tag first)
//
// The nonce is the record's number, so any batch of records can be sealed
// or opened on its own once its first number is known: that is what lets
// several workers share one transfer. Used by crypto-worker.js and by the
// tests (testdata/records.json holds vectors written by Go).
import sodium from 'libsodium-wrappers';

export const HEADER = 4;
export const NONCE = 24;
export const TAG = 16;
/** Bytes a record adds to its plaintext. */
export const OVERHEAD = HEADER + NONCE + TAG;
/** The largest length field accepted (core/transit.DefaultMaxRecord). */
export const MAX_RECORD = 64 << 20;

/** Resolves once libsodium's wasm is running. */
export const ready = sodium.ready;

/** RecordError carries the core/transit sentinel it stands for as `name`. */
export class RecordError extends Error {
  constructor(name, message) {
    super(message);
    this.name = name; // 'nonce' | 'decrypt' | 'too-large' | 'short'
  }
}

/** The nonce of record number n (n < 2^53). */
export function nonceOf(n) {
  const b = new Uint8Array(NONCE);
  const v = new DataView(b.buffer);
  v.setUint32(16, Math.floor(n / 2 ** 32));
  v.setUint32(20, n >>> 0);
  return b;
}

/** How many records sealRecords makes of len plaintext bytes. */
export function recordCount(len, recordSize) {
  return Math.max(1, Math.ceil(len / recordSize));
}

// The records are sealed and opened by libsodium's own C functions on its
// wasm heap, one copy in and one copy out per batch: the wrappers'
// per-call allocations and copies cost more than the cipher (measured).
// A region of the heap is kept per worker and grown when needed.
let arena = 0;
let arenaSize = 0;

function lib() {
  return sodium.libsodium;
}

function heap(n) {
  if (arenaSize < n) {
    if (arena) lib()._free(arena);
    arena = lib()._malloc(n);
    if (!arena) throw new Error(`libsodium: out of memory for ${n} bytes`);
    arenaSize = n;
  }
  return arena;
}

/**
 * Seals plain into records of recordSize plaintext bytes (the last one
 * shorter), numbered from first, into one framed buffer (into dst when it
 * is large enough).
 * @param {Uint8Array} key 32 bytes
 * @param {number} first
 * @param {Uint8Array} plain
 * @param {number} recordSize
 * @param {Uint8Array} [dst]
 * @returns {Uint8Array} the framed records
 */
export function sealRecords(key, first, plain, recordSize, dst) {
  const n = recordCount(plain.length, recordSize);
  const total = plain.length + n * OVERHEAD;
  const base = heap(32 + plain.length + total);
  const kPtr = base;
  const mPtr = base + 32;
  const outPtr = mPtr + plain.length;
  let h = lib().HEAPU8;
  h.set(key, kPtr);
  h.set(plain, mPtr);
  let at = outPtr;
  for (let i = 0; i < n; i++) {
    const len = Math.min(recordSize, plain.length - i * recordSize);
    new DataView(h.buffer).setUint32(at, NONCE + TAG + len);
    h.set(nonceOf(first + i), at + HEADER);
    if (lib()._crypto_secretbox_easy(at + HEADER + NONCE, mPtr + i * recordSize, len, 0, at + HEADER, kPtr) !== 0) {
      throw new Error('crypto_secretbox_easy failed');
    }
    h = lib().HEAPU8;
    at += OVERHEAD + len;
  }
  const out = dst && dst.length >= total ? dst.subarray(0, total) : new Uint8Array(total);
  out.set(h.subarray(outPtr, outPtr + total));
  h.fill(0, kPtr, kPtr + 32);
  return out;
}

/**
 * Opens the framed records in framed, numbered from first, and writes
 * their plaintext into pieces of at most pieceSize bytes.
 * @returns {{pieces: Uint8Array[], records: number, bytes: number}}
 * @throws {RecordError}
 */
export function openRecords(key, first, framed, pieceSize) {
  const view = new DataView(framed.buffer, framed.byteOffset, framed.byteLength);
  // A first pass over the lengths finds the plaintext's size.
  let bytes = 0;
  for (let at = 0; at < framed.length;) {
    const len = checkLength(view.getUint32(at));
    bytes += len - NONCE - TAG;
    at += HEADER + len;
  }
  const base = heap(32 + NONCE + framed.length + bytes);
  const kPtr = base;
  const nPtr = base + 32;
  const cPtr = nPtr + NONCE;
  const mPtr = cPtr + framed.length;
  let h = lib().HEAPU8;
  h.set(key, kPtr);
  h.set(framed, cPtr);
  let records = 0;
  let m = mPtr;
  for (let at = 0; at < framed.length;) {
    const len = view.getUint32(at);
    const n = first + records;
    // The nonce is a public counter: a plain comparison will do.
    if (
      view.getUint32(at + HEADER) ||
      view.getUint32(at + HEADER + 4) ||
      view.getUint32(at + HEADER + 8) ||
      view.getUint32(at + HEADER + 12) ||
      view.getUint32(at + HEADER + 16) !== Math.floor(n / 2 ** 32) ||
      view.getUint32(at + HEADER + 20) !== n >>> 0
    ) {
      const nonce = framed.subarray(at + HEADER, at + HEADER + NONCE);
      throw new RecordError('nonce', `record has nonce ${hex(nonce)}, want counter ${n}`);
    }
    h.copyWithin(nPtr, cPtr + at + HEADER, cPtr + at + HEADER + NONCE);
    if (lib()._crypto_secretbox_open_easy(m, cPtr + at + HEADER + NONCE, len - NONCE, 0, nPtr, kPtr) !== 0) {
      throw new RecordError('decrypt', `record ${first + records} could not be decrypted`);
    }
    h = lib().HEAPU8;
    m += len - NONCE - TAG;
    records++;
    at += HEADER + len;
  }
  const pieces = [];
  for (let off = 0; off < bytes; off += pieceSize) {
    pieces.push(h.slice(mPtr + off, mPtr + Math.min(bytes, off + pieceSize)));
  }
  h.fill(0, kPtr, kPtr + 32);
  return { pieces, records, bytes };
}

/** Checks a record's length field the way core/transit's Reader does. */
export function checkLength(len) {
  if (len > MAX_RECORD) throw new RecordError('too-large', `record length ${len} exceeds ${MAX_RECORD}`);
  if (len < NONCE + TAG) throw new RecordError('short', `record length ${len}`);
  return len;
}

function hex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
