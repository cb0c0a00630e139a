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

/**
 * Seals plain into records of recordSize plaintext bytes (the last one
 * shorter), numbered from first, into one framed buffer.
 * @param {Uint8Array} key 32 bytes
 * @param {number} first
 * @param {Uint8Array} plain
 * @param {number} recordSize
 * @returns {Uint8Array}
 */
export function sealRecords(key, first, plain, recordSize) {
  const n = recordCount(plain.length, recordSize);
  const out = new Uint8Array(plain.length + n * OVERHEAD);
  const view = new DataView(out.buffer);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const p = plain.subarray(i * recordSize, Math.min(plain.length, (i + 1) * recordSize));
    const nonce = nonceOf(first + i);
    view.setUint32(at, NONCE + TAG + p.length);
    out.set(nonce, at + HEADER);
    out.set(sodium.crypto_secretbox_easy(p, nonce, key), at + HEADER + NONCE);
    at += OVERHEAD + p.length;
  }
  return out;
}

/**
 * Opens the framed records in framed[0:length), numbered from first, and
 * writes their plaintext into pieces of at most pieceSize bytes.
 * @returns {{pieces: Uint8Array[], records: number, bytes: number}}
 * @throws {RecordError}
 */
export function openRecords(key, first, framed, pieceSize) {
  const view = new DataView(framed.buffer, framed.byteOffset, framed.byteLength);
  // A first pass over the lengths sizes the pieces exactly.
  let left = 0;
  for (let at = 0; at < framed.length;) {
    const len = checkLength(view.getUint32(at));
    left += len - NONCE - TAG;
    at += HEADER + len;
  }
  const bytes = left;
  const pieces = [];
  let piece = null;
  let fill = 0;
  let records = 0;
  for (let at = 0; at < framed.length;) {
    const len = view.getUint32(at);
    const want = nonceOf(first + records);
    const nonce = framed.subarray(at + HEADER, at + HEADER + NONCE);
    if (!sodium.memcmp(nonce, want)) {
      throw new RecordError('nonce', `record has nonce ${hex(nonce)}, want counter ${first + records}`);
    }
    let plain;
    try {
      plain = sodium.crypto_secretbox_open_easy(framed.subarray(at + HEADER + NONCE, at + HEADER + len), want, key);
    } catch {
      throw new RecordError('decrypt', `record ${first + records} could not be decrypted`);
    }
    for (let off = 0; off < plain.length;) {
      if (!piece || fill === piece.length) {
        piece = new Uint8Array(Math.min(pieceSize, left));
        pieces.push(piece);
        fill = 0;
      }
      const k = Math.min(piece.length - fill, plain.length - off);
      piece.set(plain.subarray(off, off + k), fill);
      fill += k;
      off += k;
      left -= k;
    }
    records++;
    at += HEADER + len;
  }
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
