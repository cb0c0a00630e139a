// The browser's JS data path (web/datapath/): its records equal Go's for
// the same key and counter (vectors written by core/transit's
// TestRecordVectors), it refuses what Go refuses, and a page moves files
// through it to and from the Python CLI with the SHA-256 verified.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { ready, sealRecords, openRecords, RecordError, OVERHEAD } from '../datapath/records.js';
import {
  launch,
  openPage,
  startRelay,
  CLI,
  randomFile,
  sha256File,
  tmpdir,
  need,
  makeTree,
  treeManifest,
  CHROMIUM,
  REPO,
  stopCLIs,
} from './harness.mjs';

const vectors = JSON.parse(fs.readFileSync(path.join(REPO, 'core/transit/testdata/records.json'), 'utf8'));
const hex = (s) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (u) => Buffer.from(u.buffer, u.byteOffset, u.length).toString('hex');

test('JS sealing equals Go sealing for the same key and counter', async () => {
  await ready;
  assert.ok(vectors.length >= 5);
  for (const v of vectors) {
    const framed = sealRecords(hex(v.key), v.first, hex(v.plain), v.recordSize);
    assert.equal(toHex(framed), v.framed, v.name);
    const opened = openRecords(hex(v.key), v.first, hex(v.framed), 256 << 10);
    assert.equal(Buffer.concat(opened.pieces.map((p) => Buffer.from(p))).toString('hex'), v.plain, v.name);
    assert.equal(opened.bytes, v.plain.length / 2);
    assert.equal(opened.records * OVERHEAD + opened.bytes, v.framed.length / 2);
  }
  console.log(`${vectors.length} vectors from core/transit matched`);
});

test('JS opening refuses what Go refuses: a changed byte, a wrong counter, a bad length', async () => {
  await ready;
  const v = vectors.find((x) => x.name.startsWith('three records'));
  const key = hex(v.key);
  const framed = hex(v.framed);
  const cases = [
    [
      'a flipped ciphertext bit',
      (f) => {
        f[f.length - 1] ^= 1;
      },
      v.first,
      'decrypt',
    ],
    [
      'a flipped tag bit',
      (f) => {
        f[4 + 24] ^= 1;
      },
      v.first,
      'decrypt',
    ],
    ['records out of order', () => {}, v.first + 1, 'nonce'],
    [
      'a length over 64 MiB',
      (f) => {
        new DataView(f.buffer).setUint32(0, (64 << 20) + 1);
      },
      v.first,
      'too-large',
    ],
    [
      'a length shorter than nonce and tag',
      (f) => {
        new DataView(f.buffer).setUint32(0, 39);
      },
      v.first,
      'short',
    ],
  ];
  for (const [name, spoil, first, want] of cases) {
    const f = framed.slice();
    spoil(f);
    assert.throws(
      () => openRecords(key, first, f, 1 << 20),
      (err) => err instanceof RecordError && err.name === want,
      name,
    );
  }
  assert.throws(
    () =>
      openRecords(
        hex(vectors[1].key).map((b) => b ^ 1),
        v.first,
        framed,
        1 << 20,
      ),
    /could not be decrypted/,
  );
});

// ---- the receiving Framer (web/datapath/receive.js) ---------------------

// receive.js runs in a worker; its module needs only `self` to load.
globalThis.self ??= globalThis;
const { Framer } = await import('../datapath/receive.js');

// A seeded generator, so that a failure can be replayed.
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

test('the Framer cuts any split of the stream into batches of whole records, in order, up to the offer', async () => {
  await ready;
  const key = new Uint8Array(32).fill(9);
  const sizes = [1, (64 << 10) - 1, 64 << 10, (1 << 20) + 5, (3 << 20) + 777];
  const splits = [1, 7, 4096, 65536, 200000, 3 << 20];
  let batches = 0;
  let runs = 0;
  for (const size of sizes) {
    const plain = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff);
    // 64 KiB records as a sender cuts them, and records past the offer
    // (the bytes behind them) that the Framer must leave alone.
    const framed = Buffer.concat([sealRecords(key, 0, plain, 64 << 10), Buffer.alloc(100, 0xee)]);
    for (const most of splits) {
      if (most === 1 && size > 1 << 20) continue; // a byte at a time: the small ones do
      runs++;
      const next = rng(size ^ most);
      const f = new Framer(size);
      const out = [];
      let counter = 0;
      for (let at = 0; at < framed.length;) {
        const n = Math.max(1, Math.ceil(next() * most));
        for (const b of f.push(framed.subarray(at, at + n))) {
          assert.ok(b.fill <= 1 << 20 || b.records === 1, `a batch of ${b.fill} bytes`);
          const opened = openRecords(key, counter, b.buf.subarray(0, b.fill), 256 << 10);
          assert.equal(opened.records, b.records);
          counter += b.records;
          out.push(...opened.pieces.map((u) => Buffer.from(u)));
          batches++;
        }
        at += n;
      }
      assert.ok(f.complete, `complete after ${size} bytes split at most ${most}`);
      const last = f.flush();
      if (last) {
        out.push(
          ...openRecords(key, counter, last.buf.subarray(0, last.fill), 256 << 10).pieces.map((u) => Buffer.from(u)),
        );
        batches++;
      }
      assert.equal(f.plain, size);
      assert.ok(Buffer.concat(out).equals(Buffer.from(plain)), `${size} bytes split at most ${most}`);
    }
  }
  console.log(`${runs} splits framed into ${batches} batches, every byte in order`);
});

test('the Framer refuses a lying length, and grows with what arrived, not with what a length claims', () => {
  const header = (len) => {
    const h = new Uint8Array(4);
    new DataView(h.buffer).setUint32(0, len);
    return h;
  };
  const drain = (f, v) => [...f.push(v)];
  assert.throws(
    () => drain(new Framer(10), header((64 << 20) + 1)),
    (e) => e.name === 'too-large',
  );
  assert.throws(
    () => drain(new Framer(10), header(39)),
    (e) => e.name === 'short',
  );
  // A record that claims 60 MiB and sends 5 MiB of it: the batch holds
  // what came (at most twice), never the 60 MiB.
  const f = new Framer(100 << 20);
  drain(f, header(60 << 20));
  for (let i = 0; i < 80; i++) drain(f, new Uint8Array(64 << 10));
  const held = f.batch.buf.length;
  assert.ok(held <= 2 * (5 << 20) + 4 + (1 << 20), `held ${held}`);
  // Grown geometrically: a record's bytes are copied again a few times at
  // most, not once per message (that was 2.4 GiB of copies for this one).
  assert.ok(f.regrown <= 2 * (5 << 20), `copied ${f.regrown} bytes again to grow`);
  assert.equal(f.flush(), null, 'half a record is never handed on');
  console.log(
    `a 60 MiB length with 5 MiB sent: the Framer holds ${(held / 1048576).toFixed(1)} MiB, ` +
      `copied ${(f.regrown / 1048576).toFixed(1)} MiB again to grow`,
  );
});

// ---- in the page, against the Python CLI --------------------------------

let relay;
let work;
before(async () => {
  if (process.env.CI || (await fsp.stat(CHROMIUM).catch(() => null))) relay = await startRelay();
  work = await tmpdir();
});
after(async () => {
  stopCLIs();
  await relay?.stop();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

const py = () => ['--relay-url', relay.mailboxURL, '--transit-helper', `tcp:${relay.tcp}`];
const dataPathStats = (p) => p.evaluate(async () => (await window.wasmhole.memory()).dataPath);

test('the page sends to wormhole receive through the JS data path (sizes around the batch edges)', async (t) => {
  if (!need(t, CHROMIUM, 'wormhole')) return;
  const b = await launch();
  try {
    const p = b.page;
    await openPage(p, relay.pageURL);
    // An empty file first, in a fresh page: Python acks a 0-byte file as
    // soon as the connection stands, while the data path is still starting
    // its workers, so the ack and the close behind it arrive before the
    // core asks for the ack; the core must still have it. Then less than a
    // record, and a size that ends mid-record in the fourth 1 MiB batch,
    // and one above the socket's high-water mark, so that the sender waits
    // for the plain WebSocket to drain (web/datapath/socket-writer.js).
    //
    // A sending page dials its transit relay with the plain WebSocket
    // (core/transitnet/connect_js.go), and the data path sends over it.
    const sizes = [0, 1000, (3 << 20) + 12345, (24 << 20) + 1];
    let lastCode = '';
    for (const [i, size] of sizes.entries()) {
      const src = path.join(work, `send-${size}.bin`);
      const sum = await randomFile(src, size);
      const before = await dataPathStats(p);
      if (i > 0) await p.getByRole('button', { name: 'Send something else' }).click();
      await p.getByLabel('Files', { exact: true }).setInputFiles([src]);
      await p.getByRole('button', { name: 'Send', exact: true }).click();
      // A new code: the last one's nameplate is gone, and a CLI given it
      // would wait in the key exchange for ever (the stall once seen on the
      // third send in one page).
      await p.waitForFunction((last) => !['', last].includes(document.getElementById('code').value), lastCode, {
        timeout: 30000,
      });
      const code = await p.locator('#code').inputValue();
      lastCode = code;
      const out = path.join(work, `got-${size}.bin`);
      const cli = new CLI('wormhole', [
        ...py(),
        'receive',
        '--no-listen',
        '--accept-file',
        '--hide-progress',
        '-o',
        out,
        code,
      ]);
      const r = await cli.wait(120000);
      assert.equal(r.code, 0, cli.out);
      assert.equal(await sha256File(out), sum, `${size} bytes`);
      await p
        .getByRole('status', { name: 'Send status' })
        .getByText(/SHA-256 matched|failed|error|lost/i)
        .waitFor({ timeout: 120000 })
        .catch(async (err) => {
          const status = await p.getByRole('status', { name: 'Send status' }).textContent();
          throw new Error(`${err.message}; status: ${status}; data path: ${JSON.stringify(await dataPathStats(p))}`);
        });
      assert.match(await p.getByRole('status', { name: 'Send status' }).textContent(), /SHA-256 matched/);
      const after = await dataPathStats(p);
      assert.equal(after.sends, before.sends + 1, `the JS data path sent ${size} bytes`);
      console.log(`${size} bytes: page -> wormhole receive through the JS data path, sha256 matched`);
    }
  } finally {
    await b.close();
  }
});

test('what the data path declines, a folder (its zip), the Go pipeline sends', async (t) => {
  if (!need(t, CHROMIUM, 'wormhole')) return;
  const src = path.join(work, 'tree');
  const manifest = await makeTree(src);
  delete manifest['empty-folder']; // a folder <input> lists files only
  const out = await tmpdir();
  const b = await launch();
  try {
    const p = b.page;
    await openPage(p, relay.pageURL);
    const before = await dataPathStats(p);
    await p.getByLabel('Folder', { exact: true }).setInputFiles(src);
    await p.getByRole('button', { name: 'Send', exact: true }).click();
    await p.waitForFunction(() => document.getElementById('code').value !== '', null, { timeout: 30000 });
    const code = await p.locator('#code').inputValue();
    const cli = new CLI('wormhole', [...py(), 'receive', '--no-listen', '--accept-file', '--hide-progress', code], {
      cwd: out,
    });
    assert.equal((await cli.wait(120000)).code, 0, cli.out);
    assert.deepEqual(await treeManifest(path.join(out, 'tree')), manifest);
    await p
      .getByRole('status', { name: 'Send status' })
      .getByText(/SHA-256 matched/)
      .waitFor({ timeout: 60000 });
    const after = await dataPathStats(p);
    assert.ok(after, 'the page loaded the data path');
    assert.equal(after.sends, before.sends, 'the data path took no part in the folder');
    console.log(`a folder of ${Object.keys(manifest).length} entries: page -> wormhole receive through Go's pipeline`);
  } finally {
    await b.close();
    await fsp.rm(out, { recursive: true, force: true });
  }
});

test('the page receives through the JS data path from wormhole send (streamed download)', async (t) => {
  if (!need(t, CHROMIUM, 'wormhole')) return;
  const src = path.join(work, 'from-cli.bin');
  const sum = await randomFile(src, (5 << 20) + 777);
  const b = await launch();
  try {
    const p = b.page;
    await openPage(p, relay.pageURL);
    const cli = new CLI('wormhole', [...py(), 'send', '--no-listen', '--hide-progress', src]);
    const code = await cli.code();
    await p.getByRole('combobox', { name: 'Code' }).fill(code);
    await p.getByRole('button', { name: 'Receive', exact: true }).click();
    await p.getByRole('button', { name: 'Accept' }).waitFor({ timeout: 60000 });
    const [download] = await Promise.all([
      p.waitForEvent('download', { timeout: 60000 }),
      p.getByRole('button', { name: 'Accept' }).click(),
    ]);
    const saved = path.join(b.downloads, 'saved.bin');
    await download.saveAs(saved);
    assert.equal(await sha256File(saved), sum);
    // The CLI exits 0 only after our ack carried the matching SHA-256.
    assert.equal((await cli.wait(60000)).code, 0, cli.out);
    assert.equal((await dataPathStats(p)).receives, 1);
    console.log('5 MiB + 777: wormhole send -> page through the JS data path, sha256 acked');
  } finally {
    await b.close();
  }
});
