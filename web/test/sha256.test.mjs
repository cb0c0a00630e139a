// The worker's SHA-256 fallback (used where crypto.subtle is missing, i.e.
// plain http on a non-local host) against node's crypto, at the padding
// boundaries and on a wasm-sized input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from './harness.mjs';

const src = fs.readFileSync(path.join(REPO, 'web/worker.js'), 'utf8');
const body = src.match(/function sha256Fallback[\s\S]*?\n}\n/)[0];
const sha256Fallback = new Function(`${body}; return sha256Fallback;`)();

test('worker sha256 fallback matches node crypto', () => {
  for (const n of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 1000, 8 << 20]) {
    const b = randomBytes(n);
    assert.equal(sha256Fallback(new Uint8Array(b)), createHash('sha256').update(b).digest('hex'), `length ${n}`);
  }
  assert.equal(
    sha256Fallback(new TextEncoder().encode('abc')),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
});
