// Acceptance tests: the page in headless Chromium against the stock CLIs
// (Python wormhole 0.12, wormhole-william), through our relay on loopback,
// which also serves the page. Every byte is compared by sha256. What every
// engine must pass (a folder to the CLI, wrong code, rejection both ways)
// is in engines.test.mjs; this file has what needs Chromium's driver or
// APIs (download events, the worker, File System Access) or is large.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  launch,
  openPage,
  startRelay,
  CLI,
  randomFile,
  sha256File,
  makeTree,
  treeManifest,
  tmpdir,
  screenshot,
  unzip,
  need,
  CHROMIUM,
  stopCLIs,
} from './harness.mjs';

let relay;
let work;

before(async () => {
  if (process.env.CI || (await fsp.stat(CHROMIUM).catch(() => null))) {
    relay = await startRelay();
  }
  work = await tmpdir();
});

after(async () => {
  stopCLIs();
  await relay?.stop();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

// The Python CLI's global flags: our mailbox and, when asked, our relay.
function pyArgs(helper = true) {
  const a = ['--relay-url', relay.mailboxURL];
  if (helper) a.push('--transit-helper', `tcp:${relay.tcp}`);
  return a;
}

function ready(t, ...programs) {
  return need(t, CHROMIUM, ...programs);
}

async function withPage(fn) {
  const b = await launch();
  try {
    await openPage(b.page, relay.pageURL);
    return await fn(b.page, b);
  } finally {
    await b.close();
  }
}

/**
 * Reads the page's QR code back: a screenshot of it decoded by zbarimg
 * (Debian's zbar-tools), a decoder independent of the page's encoder.
 */
async function readQR(p) {
  const qr = p.locator('#qr');
  await qr.locator('path').waitFor();
  const png = path.join(work, `qr-${Date.now()}.png`);
  await qr.screenshot({ path: png });
  const { stdout } = await promisify(execFile)('zbarimg', ['--raw', '-q', '-Sbinary', png]);
  return stdout.replace(/\n$/, '');
}

const sendStatus = (p) => p.getByRole('status', { name: 'Send status' });
const recvStatus = (p) => p.getByRole('status', { name: 'Receive status' });

/** Starts a send from the page; resolves to the code it shows. */
async function pageSend(p, what) {
  if (what.text) await p.getByLabel('Text', { exact: true }).fill(what.text);
  if (what.files) await p.getByLabel('Files', { exact: true }).setInputFiles(what.files);
  if (what.folder) await p.getByLabel('Folder', { exact: true }).setInputFiles(what.folder);
  await p.getByRole('button', { name: 'Send', exact: true }).click();
  const code = p.getByRole('textbox', { name: 'Wormhole code' });
  await p.waitForFunction(() => document.getElementById('code').value !== '', null, { timeout: 30000 });
  return code.inputValue();
}

async function waitSent(p, ms = 600000) {
  await sendStatus(p)
    .getByText(/^Sent\.|failed|cancel|disappeared|rejected|wrong code/i)
    .waitFor({ timeout: ms });
  return sendStatus(p).textContent();
}

async function pageReceive(p, code) {
  await p.getByRole('combobox', { name: 'Code' }).fill(code);
  await p.getByRole('button', { name: 'Receive', exact: true }).click();
}

test('page sends text to wormhole receive', async (t) => {
  if (!ready(t, 'wormhole')) return;
  await withPage(async (p) => {
    const text = 'hello from the browser ✓ ünïcödé';
    const code = await pageSend(p, { text });
    assert.match(
      await p.locator('#cli-command').textContent(),
      new RegExp(`^wormhole --relay-url ${relay.mailboxURL} receive ${code}$`),
    );
    // The share link carries the code in the fragment; the QR code reads
    // back as that link (a subtest, so only it needs zbarimg).
    const link = `${relay.pageURL}#${code}`;
    assert.equal(await p.locator('#share-link').getAttribute('href'), link);
    await t.test('its QR code reads back as the share link', async (st) => {
      if (need(st, 'zbarimg')) assert.equal(await readQR(p), link);
    });
    const cli = new CLI('wormhole', [...pyArgs(), 'receive', '--hide-progress', code]);
    const r = await cli.wait(60000);
    assert.equal(r.code, 0, cli.out);
    assert.ok(cli.out.includes(text), cli.out);
    assert.match(await waitSent(p), /^Sent\./);
  });
});

test('page sends 1 MiB to wormhole receive without --transit-helper (relay hint over TCP)', async (t) => {
  if (!ready(t, 'wormhole')) return;
  const src = path.join(work, 'one-mib.bin');
  const sum = await randomFile(src, 1 << 20);
  const out = await tmpdir();
  await withPage(async (p) => {
    const code = await pageSend(p, { files: [src] });
    await screenshot(p, 'send-code');
    // No --transit-helper: the CLI learns our relay's TCP address from the
    // page's relay hint.
    const cli = new CLI('wormhole', [
      ...pyArgs(false),
      'receive',
      '--no-listen',
      '--accept-file',
      '--hide-progress',
      '-o',
      path.join(out, 'got.bin'),
      code,
    ]);
    const r = await cli.wait(120000);
    assert.equal(r.code, 0, cli.out);
    assert.match(cli.out, /relay:tcp:127\.0\.0\.1/, cli.out);
    assert.equal(await sha256File(path.join(out, 'got.bin')), sum);
    assert.match(await waitSent(p), /SHA-256 matched/);
    await screenshot(p, 'send-done');
  });
  await fsp.rm(out, { recursive: true, force: true });
});

test('page sends 300 MiB to wormhole receive', async (t) => {
  if (!ready(t, 'wormhole')) return;
  const src = path.join(work, 'big.bin');
  const sum = await randomFile(src, 300 << 20);
  const out = await tmpdir();
  try {
    await withPage(async (p) => {
      const code = await pageSend(p, { files: [src] });
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
      const r = await cli.wait(900000);
      assert.equal(r.code, 0, cli.out);
      assert.equal(await sha256File(path.join(out, 'got.bin')), sum);
      assert.match(await waitSent(p), /SHA-256 matched/);
    });
  } finally {
    await fsp.rm(out, { recursive: true, force: true });
    await fsp.rm(src, { force: true });
  }
});

// wormhole-william 1.0.6 (Debian's gospake2) encodes SPAKE2 points with an
// unpadded big.Int.Bytes(), so about one session in 128 fails as a "wrong
// code" although the code is right (see williamPakeBug in core/wormhole).
// williamRetry runs attempt(n) up to three times; attempt resolves to
// 'pake-bug' only for such a wrong-code failure, after checking that it
// left nothing behind. Any other outcome ends the loop.
async function williamRetry(t, attempt) {
  for (let n = 1; ; n++) {
    const r = await attempt(n);
    if (r !== 'pake-bug') return r;
    assert.ok(n < 3, 'wrong code three times in a row with the right code');
    t.diagnostic(`attempt ${n} hit wormhole-william's SPAKE2 encoding bug; retrying`);
  }
}

test('page sends a file to wormhole-william', async (t) => {
  if (!ready(t, 'wormhole-william')) return;
  const src = path.join(work, 'for-william.bin');
  const sum = await randomFile(src, (1 << 20) + 12345);
  await williamRetry(t, async () => {
    const out = await tmpdir();
    try {
      return await withPage(async (p) => {
        const code = await pageSend(p, { files: [src] });
        const cli = new CLI('wormhole-william', ['receive', '--relay-url', relay.mailboxURL, '--hide-progress', code], {
          cwd: out,
          stdin: 'y\n',
        });
        const r = await cli.wait(120000);
        if (r.code !== 0 && /^Wrong code/.test(await waitSent(p, 30000))) {
          assert.deepEqual(await fsp.readdir(out), [], 'the failed attempt wrote nothing');
          return 'pake-bug';
        }
        assert.equal(r.code, 0, cli.out);
        assert.equal(await sha256File(path.join(out, 'for-william.bin')), sum);
        assert.match(await waitSent(p), /SHA-256 matched/);
        return 'ok';
      });
    } finally {
      await fsp.rm(out, { recursive: true, force: true });
    }
  });
});

test('page receives text from wormhole send', async (t) => {
  if (!ready(t, 'wormhole')) return;
  await withPage(async (p) => {
    const text = 'hello from the terminal ✓';
    // --verify prints the verifier and asks before sending.
    const cli = new CLI('wormhole', [...pyArgs(), 'send', '--verify', '--hide-progress', '--text', text], {
      stdin: 'yes\n',
    });
    const code = await cli.code();
    await pageReceive(p, code);
    await p.locator('#offer-message').getByText(text).waitFor({ timeout: 60000 });
    assert.equal(await p.locator('#offer-message').textContent(), text);
    assert.equal((await cli.wait(60000)).code, 0, cli.out);
    // The verifier on request equals the one the CLI printed.
    await p.getByRole('button', { name: 'Show verifier' }).last().click();
    const shown = (await p.locator('#receive-verifier').textContent()).replace('Verifier: ', '');
    assert.match(shown, /^[0-9a-f]{64}$/);
    assert.ok(cli.out.includes(shown), `CLI printed no ${shown}: ${cli.out}`);
  });
});

test('page receives a file from wormhole send (streamed download)', async (t) => {
  if (!ready(t, 'wormhole')) return;
  const src = path.join(work, 'from-cli.bin');
  const sum = await randomFile(src, 5 << 20);
  await withPage(async (p, b) => {
    const cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', src]);
    const code = await cli.code();
    await pageReceive(p, code);
    await p.getByRole('button', { name: 'Accept' }).waitFor({ timeout: 60000 });
    assert.match(await p.locator('#offer-text').textContent(), /from-cli\.bin/);
    await screenshot(p, 'receive-offer');
    const [download] = await Promise.all([
      p.waitForEvent('download', { timeout: 60000 }),
      p.getByRole('button', { name: 'Accept' }).click(),
    ]);
    const saved = path.join(b.downloads, 'saved.bin');
    await download.saveAs(saved);
    assert.equal(await download.failure(), null);
    assert.equal(download.suggestedFilename(), 'from-cli.bin');
    assert.equal(await sha256File(saved), sum);
    await recvStatus(p).getByText('Received').waitFor({ timeout: 60000 });
    assert.equal((await cli.wait(60000)).code, 0, cli.out);
    await screenshot(p, 'receive-done');
  });
});

test('the in-memory fallback holds small files and refuses big ones', async (t) => {
  if (!ready(t, 'wormhole')) return;
  const src = path.join(work, 'small.bin');
  const sum = await randomFile(src, 300000);
  await withPage(async (p) => {
    // Fits: the blob arrives whole.
    let cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', src]);
    let code = await cli.code();
    const got = await p.evaluate(async (code) => {
      const offer = await window.wasmhole.receive(code);
      const sink = window.wasmhole.blobSink(1 << 20);
      await offer.accept(sink);
      const d = new Uint8Array(await crypto.subtle.digest('SHA-256', await (await sink.blob()).arrayBuffer()));
      return Array.from(d, (x) => x.toString(16).padStart(2, '0')).join('');
    }, code);
    assert.equal(got, sum);
    assert.equal((await cli.wait(60000)).code, 0, cli.out);
    // Over the limit: refused, and the sender is told.
    cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', src]);
    code = await cli.code();
    const err = await p.evaluate(async (code) => {
      const offer = await window.wasmhole.receive(code);
      try {
        await offer.accept(window.wasmhole.blobSink(100000));
        return 'accepted';
      } catch (e) {
        return `${e.code}: ${e.message}`;
      }
    }, code);
    assert.match(err, /^save-failed: .*in memory/);
    assert.notEqual((await cli.wait(60000)).code, 0, cli.out);
  });
});

test('page receives a folder from wormhole send, as a zip and unpacked', async (t) => {
  if (!ready(t, 'wormhole')) return;
  const src = path.join(work, 'sendtree');
  const manifest = await makeTree(src);
  // Python 0.12 zips files only, so empty folders do not travel.
  delete manifest['empty-folder'];
  await withPage(async (p, b) => {
    // As a zip, through the page.
    let cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', src]);
    let code = await cli.code();
    await pageReceive(p, code);
    await p.getByRole('button', { name: 'Accept' }).waitFor({ timeout: 60000 });
    assert.match(await p.locator('#offer-text').textContent(), /sendtree.*6 files/);
    const [download] = await Promise.all([
      p.waitForEvent('download', { timeout: 60000 }),
      p.getByRole('button', { name: 'Accept' }).click(),
    ]);
    const zip = path.join(b.downloads, 'tree.zip');
    await download.saveAs(zip);
    assert.equal(download.suggestedFilename(), 'sendtree.zip');
    const dest = path.join(b.downloads, 'unzipped');
    await unzip(zip, dest);
    assert.deepEqual(await treeManifest(dest), manifest);
    assert.equal((await cli.wait(60000)).code, 0, cli.out);

    // Unpacked into a folder through the JS API (File System Access; the
    // origin-private file system stands in for a picked folder).
    cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', src]);
    code = await cli.code();
    const folder = await p.evaluate(async (code) => {
      const root = await navigator.storage.getDirectory();
      const offer = await window.wasmhole.receive(code);
      return offer.accept(window.wasmhole.directorySink(root));
    }, code);
    const got = {
      folder,
      out: await opfsTree(p, folder),
      left: Object.keys(await opfsTree(p)).filter((k) => !k.includes('/')),
    };
    assert.equal(got.folder, 'sendtree');
    assert.deepEqual(got.out, manifest);
    assert.deepEqual(got.left, ['sendtree'], 'the spool file was removed');
    assert.equal((await cli.wait(60000)).code, 0, cli.out);
  });
});

// The tree below folder ("" = the root) of the origin-private file system,
// which stands in for a picked folder: relative path -> "dir" or the
// file's sha256.
async function opfsTree(p, folder = '') {
  return p.evaluate(async (folder) => {
    const out = {};
    async function walk(dir, rel) {
      for await (const [name, h] of dir.entries()) {
        const r = rel ? `${rel}/${name}` : name;
        if (h.kind === 'directory') {
          out[r] = 'dir';
          await walk(h, r);
        } else {
          const d = new Uint8Array(await crypto.subtle.digest('SHA-256', await (await h.getFile()).arrayBuffer()));
          out[r] = Array.from(d, (x) => x.toString(16).padStart(2, '0')).join('');
        }
      }
    }
    const root = await navigator.storage.getDirectory();
    await walk(folder ? await root.getDirectoryHandle(folder) : root, '');
    return out;
  }, folder);
}

test('a folder that cannot be unpacked is not acknowledged: the page says so, the CLI sender fails', async (t) => {
  if (!ready(t, 'wormhole')) return;
  // Two names the safe unpacker maps to the same "x_1.txt" (":" is not
  // portable): it refuses the zip before writing anything.
  const clash = path.join(work, 'clash');
  await randomFile(path.join(clash, 'x:1.txt'), 100);
  await randomFile(path.join(clash, 'x_1.txt'), 200);
  await randomFile(path.join(clash, 'fine.txt'), 300);
  // A folder whose last file fails to write (the worker's writable for
  // it rejects, like a full disk) after the first files were written.
  // Two names a case-insensitive folder would merge: refused too, where
  // the second used to replace the first.
  const caseClash = path.join(work, 'caseclash');
  await randomFile(path.join(caseClash, 'Readme.txt'), 100);
  await randomFile(path.join(caseClash, 'README.txt'), 200);
  const half = path.join(work, 'half');
  await randomFile(path.join(half, 'a.txt'), 70000);
  await randomFile(path.join(half, 'b.txt'), 1000);
  await randomFile(path.join(half, 'z/boom.bin'), 5000);
  await withPage(async (p) => {
    // "Unpack into folder…" gets the origin-private file system.
    await p.evaluate(() => {
      window.showDirectoryPicker = async () => navigator.storage.getDirectory();
    });
    const worker = p.workers().find((w) => w.url().endsWith('/worker.js'));
    assert.ok(worker, 'the wasmhole worker is running');
    await worker.evaluate(() => {
      const orig = FileSystemFileHandle.prototype.createWritable;
      FileSystemFileHandle.prototype.createWritable = async function createWritable(...args) {
        const w = await orig.apply(this, args);
        if (this.name === 'boom.bin') {
          w.write = () => Promise.reject(new DOMException('the disk is full (test)', 'QuotaExceededError'));
        }
        return w;
      };
    });
    for (const [src, why] of [
      [clash, /appears twice/],
      [caseClash, /differ only in case/],
      [half, /disk is full/],
    ]) {
      const cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', src]);
      await pageReceive(p, await cli.code());
      const unpack = p.getByRole('button', { name: 'Unpack into folder…', exact: true });
      await unpack.waitFor({ timeout: 60000 });
      await unpack.click();
      await recvStatus(p)
        .getByText(/could not be unpacked/)
        .waitFor({ timeout: 60000 });
      const shown = await recvStatus(p).textContent();
      assert.match(shown, why);
      assert.doesNotMatch(shown, /^Received/);
      // A clean state to start again.
      await p.getByRole('button', { name: 'Receive something else' }).waitFor({ timeout: 5000 });
      assert.equal(await p.getByRole('button', { name: 'Receive', exact: true }).isEnabled(), true);
      // The sender got no ack. Python 0.12's sender then waits for it
      // forever (its transit reader ignores the lost connection), so "not
      // success" is: everything was sent, yet no success line and no exit
      // 0, still a few seconds after the page failed; an ack sent before
      // the unpacking would have arrived long before.
      await new Promise((r) => setTimeout(r, 3000));
      assert.match(cli.out, /File sent\.\. waiting for confirmation/, cli.out);
      assert.doesNotMatch(cli.out, /Transfer complete|Confirmation received/, cli.out);
      assert.notEqual(cli.proc.exitCode, 0, cli.out);
      cli.kill('SIGKILL');
      await cli.wait(10000);
      // Nothing is left: neither the spool zip nor a half-unpacked folder.
      assert.deepEqual(await opfsTree(p), {});
      await p.getByRole('button', { name: 'Receive something else' }).click();
    }
  });
});

test('cancelling on the page shows up in the CLI, and the CLI cancelling shows up on the page', async (t) => {
  if (!ready(t, 'wormhole')) return;
  const src = path.join(work, 'cancel.bin');
  await randomFile(src, 200 << 20);
  const out = await tmpdir();
  try {
    await withPage(async (p) => {
      // Page sends, page cancels mid-transfer: the Python receiver fails.
      let code = await pageSend(p, { files: [src] });
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
      await p.locator('#send-progress').waitFor({ state: 'visible', timeout: 60000 });
      await p.getByRole('button', { name: 'Cancel' }).first().click();
      assert.match(await waitSent(p, 60000), /Cancelled/);
      let r = await cli.wait(60000);
      assert.notEqual(r.code, 0, cli.out);

      // Page sends, the Python receiver is killed: it says nothing, and the
      // page says the other side disappeared.
      await p.getByRole('button', { name: 'Send something else' }).click();
      code = await pageSend(p, { files: [src] });
      cli = new CLI('wormhole', [
        ...pyArgs(),
        'receive',
        '--no-listen',
        '--accept-file',
        '--hide-progress',
        '-o',
        path.join(out, 'b.bin'),
        code,
      ]);
      await p.locator('#send-progress').waitFor({ state: 'visible', timeout: 60000 });
      cli.kill('SIGKILL');
      assert.match(await waitSent(p, 120000), /disappeared/);
      assert.doesNotMatch(await sendStatus(p).textContent(), /^Sent\./);

      // Python sends, the page cancels: the CLI fails.
      cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', src]);
      await pageReceive(p, await cli.code());
      await p.getByRole('button', { name: 'Accept' }).click();
      await p.locator('#receive-progress').waitFor({ state: 'visible', timeout: 60000 });
      await p.locator('#receive-cancel').click();
      await recvStatus(p).getByText('Cancelled').waitFor({ timeout: 60000 });
      r = await cli.wait(60000);
      assert.notEqual(r.code, 0, cli.out);

      // Python sends and is killed: the page says the other side
      // disappeared, and is ready to receive again.
      await p.getByRole('button', { name: 'Receive something else' }).click();
      cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', src]);
      await pageReceive(p, await cli.code());
      await p.getByRole('button', { name: 'Accept' }).click();
      await p.locator('#receive-progress').waitFor({ state: 'visible', timeout: 60000 });
      cli.kill('SIGKILL');
      await recvStatus(p)
        .getByText(/disappeared/)
        .waitFor({ timeout: 120000 });
      assert.doesNotMatch(await recvStatus(p).textContent(), /^Received/);
      await p.getByRole('button', { name: 'Receive something else' }).waitFor({ timeout: 5000 });
    });
  } finally {
    await fsp.rm(out, { recursive: true, force: true });
    await fsp.rm(src, { force: true });
  }
});
