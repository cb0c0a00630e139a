// The acceptance suite in every browser engine (Chromium, Firefox ESR,
// WebKitGTK; engines.mjs): the page sends a file, text and a folder to the
// stock `wormhole` CLI (Python 0.12) and receives each from it, through our
// relay on loopback; wrong code, cancel and reject; the fallbacks where an
// engine lacks an API; and an accessibility audit (axe-core) of every state
// the page passes through. Each test is written once, against the driver
// interface. One browser per engine serves all its tests (launching Firefox
// costs seconds); each test loads the page afresh.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  startRelay,
  CLI,
  randomFile,
  sha256File,
  makeTree,
  treeManifest,
  tmpdir,
  unzip,
  need,
  stopCLIs,
} from './harness.mjs';
import { sharedPeer } from './util.mjs';
import { ENGINES, PROGRAMS, launchEngine } from './engines.mjs';
import { audit } from './a11y.mjs';

let relay;
let work;
let bigFile; // for the cancel tests: large enough to be cancelled mid-way

// Set inside the network namespace where the page is served from a
// non-secure origin (see the test "without service workers"): an address
// that exists only there and is not loopback, so no engine counts it as
// a secure context, and a forwarder from it to our relay.
const NONSECURE = process.env.WASMHOLE_NONSECURE_ADDR;
let forwarder;

before(async () => {
  relay = await startRelay();
  work = await tmpdir();
  if (NONSECURE) {
    const to = Number(new URL(relay.pageURL).port);
    forwarder = net.createServer((c) => {
      const r = net.connect(to, '127.0.0.1');
      c.pipe(r).pipe(c);
      c.on('error', () => r.destroy());
      r.on('error', () => c.destroy());
    });
    await new Promise((resolve) => forwarder.listen(0, NONSECURE, resolve));
    const u = new URL(relay.pageURL);
    u.host = `${NONSECURE}:${forwarder.address().port}`;
    relay.pageURL = u.href;
  }
});

after(async () => {
  stopCLIs();
  forwarder?.close();
  await relay?.stop();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

const pyArgs = () => ['--relay-url', relay.mailboxURL, '--transit-helper', `tcp:${relay.tcp}`];
const waitStatus = (b, which, re, ms = 120000) =>
  b.waitFor(
    ([id, src]) => {
      const t = document.getElementById(id).textContent;
      return new RegExp(src).test(t) && t;
    },
    [`${which}-status`, re.source],
    ms,
  );

async function open(b, query = '') {
  await b.goto(relay.pageURL + query);
  await b.waitFor(
    () => document.documentElement.dataset.ready === 'true' || !document.getElementById('boot').hidden,
    null,
    90000,
  );
  const boot = await b.eval(() => document.getElementById('boot').textContent);
  if (boot) throw new Error(`page failed to start: ${boot}`);
}

/**
 * Brings the page back to idle: the buttons a user would press ("Send
 * something else", "Receive something else", "Clear selection"), without a
 * reload where the page is loaded already (loading the wasm takes seconds
 * in some engines; the reload itself is covered by every first test).
 */
async function fresh(b) {
  const loaded = await b
    .eval(() => document.documentElement.dataset.ready === 'true' && !location.search)
    .catch(() => false);
  if (!loaded) return open(b);
  for (const id of ['send-again', 'receive-again', 'clear-selection']) {
    if (
      await b.eval((id) => !document.getElementById(id).hidden && !document.getElementById(id).closest('[hidden]'), id)
    )
      await b.click(`#${id}`);
  }
  await b.fill('#text', '');
  await b.fill('#code-input', '');
  const idle = await b.eval(
    () =>
      ['send-code', 'send-progress', 'offer', 'receive-progress'].every((id) => document.getElementById(id).hidden) &&
      !document.getElementById('send-button').disabled &&
      !document.getElementById('receive-button').disabled,
  );
  if (!idle) await open(b);
}

/** Sends from the page; resolves to the code shown. */
async function send(b, what) {
  if (what.text) await b.fill('#text', what.text);
  if (what.files) await b.setFiles('#files', what.files);
  if (what.folder) await b.setFolder('#folder', what.folder);
  // "Send something else" keeps the last code in the hidden field.
  await b.eval(() => {
    document.getElementById('code').value = '';
  });
  await b.click('#send-button');
  return b.waitFor(
    () => !document.getElementById('send-code').hidden && document.getElementById('code').value,
    null,
    60000,
  );
}

async function receive(b, code) {
  await b.fill('#code-input', code);
  await b.click('#receive-button');
}

async function checkA11y(b, state) {
  const v = await audit(b);
  assert.deepEqual(v, [], `${b.name}, ${state}: accessibility violations:\n${v.join('\n')}`);
}

for (const engine of ENGINES) {
  describe(engine, () => {
    let b;
    const ready = (t) => need(t, ...PROGRAMS[engine], 'wormhole') && b;

    before(async () => {
      if (!PROGRAMS[engine].every((p) => need({ skip() {} }, p))) return;
      const t0 = Date.now();
      b = await launchEngine(engine);
      process.stdout.write(`# ${engine}: launched in ${Date.now() - t0} ms\n`);
    });
    after(async () => {
      await b?.close();
    });

    test('the page starts; missing APIs are fallen back from, not failed on', async (t) => {
      if (!ready(t)) return;
      await open(b);
      const api = await b.eval(() => ({
        webSocketStream: typeof WebSocketStream === 'function',
        fileSystemAccess: typeof showDirectoryPicker === 'function',
        serviceWorker: 'serviceWorker' in navigator && isSecureContext,
      }));
      t.diagnostic(`${engine}: ${JSON.stringify(api)}`);
      await checkA11y(b, 'idle');
      // Without the File System Access API, no button offers it.
      await b.setFiles('#files', [await smallFile()]);
      assert.match(await b.eval(() => document.getElementById('selection').textContent), /small\.bin/);
    });

    test('sends text to wormhole receive', async (t) => {
      if (!ready(t)) return;
      await fresh(b);
      const text = `hello from ${engine} ✓ ünïcödé`;
      const code = await send(b, { text });
      // The QR code's encoder is a module the page imports on demand.
      const modules = await b.waitFor(() => document.querySelector('#qr path')?.getAttribute('d').length, null, 30000);
      assert.ok(modules > 100, `QR path of ${modules} characters`);
      await checkA11y(b, 'code shown');
      const cli = new CLI('wormhole', [...pyArgs(), 'receive', '--hide-progress', code]);
      const r = await cli.wait(60000);
      assert.equal(r.code, 0, cli.out);
      assert.ok(cli.out.includes(text), cli.out);
      await waitStatus(b, 'send', /^Sent\./);
      await checkA11y(b, 'done (send)');
    });

    test('sends a file to wormhole receive', async (t) => {
      if (!ready(t)) return;
      await fresh(b);
      const src = path.join(work, `${engine}-file.bin`);
      const sum = await randomFile(src, (3 << 20) + 17);
      const out = await tmpdir();
      try {
        const code = await send(b, { files: [src] });
        const cli = new CLI('wormhole', [
          ...pyArgs(),
          'receive',
          '--no-listen',
          '--accept-file',
          '--hide-progress',
          '-o',
          path.join(out, 'got.bin'),
          code,
        ]);
        assert.equal((await cli.wait(120000)).code, 0, cli.out);
        assert.equal(await sha256File(path.join(out, 'got.bin')), sum);
        await waitStatus(b, 'send', /SHA-256 matched/);
      } finally {
        await fsp.rm(out, { recursive: true, force: true });
      }
    });

    test('sends a folder to wormhole receive', async (t) => {
      if (!ready(t)) return;
      await fresh(b);
      const src = path.join(work, `${engine}-tree`);
      const manifest = await makeTree(src);
      delete manifest['empty-folder']; // a folder <input> lists files only
      const out = await tmpdir();
      try {
        const code = await send(b, { folder: src });
        const cli = new CLI(
          'wormhole',
          [...pyArgs(), 'receive', '--no-listen', '--accept-file', '--hide-progress', code],
          { cwd: out },
        );
        assert.equal((await cli.wait(120000)).code, 0, cli.out);
        assert.deepEqual(await treeManifest(path.join(out, path.basename(src))), manifest);
        await waitStatus(b, 'send', /SHA-256 matched/);
      } finally {
        await fsp.rm(out, { recursive: true, force: true });
      }
    });

    test('receives text from wormhole send', async (t) => {
      if (!ready(t)) return;
      await fresh(b);
      const text = `hello to ${engine} ✓`;
      const cli = new CLI('wormhole', [...pyArgs(), 'send', '--hide-progress', '--text', text]);
      await receive(b, await cli.code());
      await b.waitFor((want) => document.getElementById('offer-message').textContent === want, text, 60000);
      assert.equal((await cli.wait(60000)).code, 0, cli.out);
      await checkA11y(b, 'text received');
    });

    test('receives a file from wormhole send as a streamed download', async (t) => {
      if (!ready(t)) return;
      await fresh(b);
      const src = path.join(work, `${engine}-from-cli.bin`);
      const sum = await randomFile(src, 5 << 20);
      const cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', src]);
      await receive(b, await cli.code());
      await b.waitFor(
        () => !document.getElementById('offer').hidden && !document.getElementById('offer-actions').hidden,
        null,
        60000,
      );
      assert.match(await b.eval(() => document.getElementById('offer-text').textContent), /-from-cli\.bin/);
      // Where the engine has no File System Access, the page offers none.
      const fsa = await b.eval(
        () => typeof showSaveFilePicker === 'function' || typeof showDirectoryPicker === 'function',
      );
      assert.equal(await b.eval(() => document.getElementById('save-to-folder').hidden), !fsa);
      await checkA11y(b, 'offer');
      await b.click('#accept');
      const saved = await b.download(path.basename(src), { minSize: 5 << 20 });
      assert.equal(await sha256File(saved), sum);
      await waitStatus(b, 'receive', /^Received/);
      // Streamed through the service worker, not gathered in memory.
      const how = await b.eval(() => ({
        streamed: [...document.querySelectorAll('iframe')].some((f) => /\/dl\//.test(f.src)),
        inMemory: !document.getElementById('offer-note').hidden,
      }));
      assert.deepEqual(how, { streamed: true, inMemory: false });
      assert.equal((await cli.wait(60000)).code, 0, cli.out);
      await checkA11y(b, 'done (receive)');
    });

    test('receives a folder from wormhole send as a zip', async (t) => {
      if (!ready(t)) return;
      await fresh(b);
      const src = path.join(work, `${engine}-sendtree`);
      const manifest = await makeTree(src);
      delete manifest['empty-folder']; // Python 0.12 zips files only
      const cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', src]);
      await receive(b, await cli.code());
      await b.waitFor(
        () => !document.getElementById('offer-actions').hidden && !document.getElementById('offer').hidden,
        null,
        60000,
      );
      assert.match(await b.eval(() => document.getElementById('offer-text').textContent), /6 files/);
      await b.click('#accept');
      const zip = await b.download(`${path.basename(src)}.zip`, { minSize: 70000 });
      const dest = path.join(work, `${engine}-unzipped`);
      await unzip(zip, dest);
      assert.deepEqual(await treeManifest(dest), manifest);
      await waitStatus(b, 'receive', /^Received/);
      assert.equal((await cli.wait(60000)).code, 0, cli.out);
    });

    test('a wrong code shows the wrong-code message', async (t) => {
      if (!ready(t)) return;
      await fresh(b);
      const cli = new CLI('wormhole', [...pyArgs(), 'send', '--hide-progress', '--text', 'secret']);
      const code = await cli.code();
      await receive(b, code.replace(/-[^-]+$/, '-wrongword'));
      await waitStatus(b, 'receive', /Wrong code/, 60000);
      assert.notEqual((await cli.wait(60000)).code, 0, 'the CLI fails too');
      assert.equal(await b.eval(() => document.getElementById('receive-button').disabled), false);
      await checkA11y(b, 'error');
    });

    test('rejecting an offer tells the sender; the receiver rejecting shows on the page', async (t) => {
      if (!ready(t)) return;
      await fresh(b);
      const src = await smallFile();
      let cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', src]);
      await receive(b, await cli.code());
      await b.waitFor(
        () => !document.getElementById('offer-actions').hidden && !document.getElementById('offer').hidden,
        null,
        60000,
      );
      await b.click('#reject');
      await waitStatus(b, 'receive', /You rejected the offer/, 30000);
      assert.notEqual((await cli.wait(60000)).code, 0);
      assert.match(cli.out, /transfer rejected/);

      const code = await send(b, { files: [src] });
      cli = new CLI('wormhole', [...pyArgs(), 'receive', '--hide-progress', code], { stdin: 'n\n' });
      await cli.wait(60000);
      await waitStatus(b, 'send', /rejected/, 60000);
    });

    test('cancelling on the page stops the CLI, in both directions', async (t) => {
      if (!ready(t)) return;
      await fresh(b);
      const src = await big();
      const out = await tmpdir();
      let t0 = Date.now();
      const lap = (what) => {
        t.diagnostic(`${engine}: ${what} after ${Date.now() - t0} ms`);
        t0 = Date.now();
      };
      try {
        // The page sends and cancels mid-transfer: the receiver fails.
        const code = await send(b, { files: [src] });
        let cli = new CLI('wormhole', [
          ...pyArgs(),
          'receive',
          '--no-listen',
          '--accept-file',
          '--hide-progress',
          '-o',
          path.join(out, 'a.bin'),
          code,
        ]);
        await b.waitFor(() => !document.getElementById('send-progress').hidden, null, 60000);
        await checkA11y(b, 'progress (send)');
        lap('send progress shown');
        await b.click('#send-cancel');
        await waitStatus(b, 'send', /Cancelled/, 60000);
        lap('send cancelled');
        assert.notEqual((await cli.wait(60000)).code, 0, cli.out);
        lap('receiving CLI failed');

        // The CLI sends, the page cancels: the sender fails, and no
        // download is left behind as if complete.
        cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', src]);
        await receive(b, await cli.code());
        await b.waitFor(
          () => !document.getElementById('offer-actions').hidden && !document.getElementById('offer').hidden,
          null,
          60000,
        );
        await b.click('#accept');
        await b.waitFor(() => !document.getElementById('receive-progress').hidden, null, 60000);
        lap('receive progress shown');
        await b.click('#receive-cancel');
        await waitStatus(b, 'receive', /Cancelled/, 60000);
        lap('receive cancelled');
        // The sender never succeeds. Python 0.12 exits with an error, or,
        // when it had sent every byte before the cancel (Firefox receives
        // quickly), waits for an ack forever: it ignores the closed
        // transit connection; so it is stopped after 20 s.
        const r = await cli.wait(20000);
        lap(r.sig ? 'sending CLI stopped, still waiting for an ack' : 'sending CLI failed');
        assert.notEqual(r.code, 0, cli.out);
        assert.doesNotMatch(cli.out, /Transfer complete|Confirmation received/, cli.out);
        await new Promise((r) => setTimeout(r, 1000));
        // Whatever the engine leaves of a failed download (Firefox: an
        // empty placeholder and a .part file; WebKitGTK: the partial file,
        // marked failed in its download list) is never a wrong file
        // passed off as whole. A cancel that reaches the worker only after
        // the last byte (the worker works through the WebSocket messages
        // queued before it) leaves the whole file, intact, and still no ack.
        const want = await sha256File(src);
        const { size: full } = await fsp.stat(src);
        for (const f of await fsp.readdir(b.downloads)) {
          if (!f.startsWith('cancel')) continue;
          const p = path.join(b.downloads, f);
          const { size } = await fsp.stat(p);
          t.diagnostic(`${engine} left ${f} (${size} bytes) of a cancelled download`);
          if (size === full) assert.equal(await sha256File(p), want, `${f} is whole-sized but not the file`);
          else assert.ok(size < full, `${f} is larger than the file`);
          await fsp.rm(p);
        }
      } finally {
        await fsp.rm(out, { recursive: true, force: true });
      }
    });

    test('without service workers: a small file is held in memory (said so), a large one refused', async (t) => {
      if (!ready(t)) return;
      if (!b.preloads && !NONSECURE) {
        // WebKitWebDriver cannot run a script before the page's, so the
        // page is served as a browser really meets it without service
        // workers: from a non-secure origin (plain http on an address
        // that is not loopback). This test runs again, alone, in a
        // private network namespace that has such an address.
        await inNamespace(t, engine);
        return;
      }
      // The page as in a browser without service workers: from a
      // non-secure origin, or (NO_SERVICE_WORKER in engines.mjs) with the
      // API removed before the page's scripts run (a private mode).
      {
        await open(b, NONSECURE ? '' : '?no-service-worker');
        t.diagnostic(`${engine}: ${await b.eval(() => `${location.origin}, isSecureContext ${isSecureContext}`)}`);
        assert.equal(await b.eval(() => 'serviceWorker' in navigator), false);
        // The in-memory cap, lowered so that a small file exceeds it.
        await b.eval(async () => {
          (await import(new URL('web/wasmhole.js', document.baseURI).href)).Wasmhole.BLOB_LIMIT = 200000;
        });
        const small = path.join(work, `${engine}-mem.bin`);
        const sum = await randomFile(small, 150000);
        let cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', small]);
        await receive(b, await cli.code());
        await b.waitFor(
          () => !document.getElementById('offer-actions').hidden && !document.getElementById('offer').hidden,
          null,
          60000,
        );
        await b.click('#accept');
        const saved = await b.download(path.basename(small), { minSize: 150000 });
        assert.equal(await sha256File(saved), sum);
        assert.match(await b.eval(() => document.getElementById('offer-note').textContent), /kept in memory/);
        assert.equal((await cli.wait(60000)).code, 0, cli.out);

        await b.click('#receive-again');
        const large = path.join(work, `${engine}-toolarge.bin`);
        await randomFile(large, 300000);
        cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', large]);
        await receive(b, await cli.code());
        await b.waitFor(
          () => !document.getElementById('offer-actions').hidden && !document.getElementById('offer').hidden,
          null,
          60000,
        );
        await b.click('#accept');
        assert.match(await waitStatus(b, 'receive', /cannot stream downloads/, 30000), /more than the/);
        assert.notEqual((await cli.wait(60000)).code, 0, cli.out);
        assert.ok(!(await fsp.readdir(b.downloads)).includes(path.basename(large)));
      }
    });
  });
}

/**
 * Runs this file's no-service-worker test for engine in a private network
 * namespace (the reference peers' netns-run.sh) where 198.18.0.7, a
 * test-only address, is on the loopback device: the page is served from
 * http://198.18.0.7:PORT, which is not a secure context.
 */
async function inNamespace(t, engine) {
  const netns = sharedPeer(t, 'netns-run.sh');
  if (!netns) return;
  if (process.getuid && process.getuid() !== 0) {
    const msg = 'a network namespace needs root (netns-run.sh uses unshare and ip)';
    if (process.env.CI) throw new Error(msg);
    t.skip(msg);
    return;
  }
  const self = fileURLToPath(import.meta.url);
  // A fresh test run, not a child of this one (node:test marks those).
  const env = { ...process.env, WASMHOLE_ENGINES: engine, WASMHOLE_NONSECURE_ADDR: '198.18.0.7' };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(
    netns,
    [
      '--addr',
      '198.18.0.7',
      process.execPath,
      '--test',
      '--test-timeout=600000',
      '--test-name-pattern=without service workers',
      path.basename(self),
    ],
    {
      cwd: path.dirname(self),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  for (const line of out.split('\n'))
    if (/^\s*# (webkit|firefox|chromium)/.test(line)) t.diagnostic(line.trim().replace(/^# /, ''));
  assert.equal(code, 0, `the test in the namespace failed:\n${out.slice(-4000)}`);
  assert.match(out, /# pass [1-9]/, out.slice(-2000));
}

async function smallFile() {
  const p = path.join(work, 'small.bin');
  await fsp.stat(p).catch(() => randomFile(p, 1000));
  return p;
}

async function big() {
  if (!bigFile) {
    bigFile = path.join(work, 'cancel.bin');
    await randomFile(bigFile, 128 << 20);
  }
  return bigFile;
}
