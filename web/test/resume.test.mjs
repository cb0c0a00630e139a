// Resume after a dropped transit connection (docs/resume.md), with real
// programs on loopback: our relay binary, the page in Chromium, our Go
// peer (relay/worker/internal/gopeer) and the stock CLIs. Between wasmhole
// ends a cut transfer goes on from the byte the receiver holds; with a
// stock CLI it ends with a clear error on both sides.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  launch,
  openPage,
  startRelay,
  CLI,
  randomFile,
  sha256File,
  tmpdir,
  need,
  CHROMIUM,
  REPO,
  GO,
  stopCLIs,
} from './harness.mjs';

// WASMHOLE_RESUME_MIB shrinks the big file while debugging.
const BIG = Number(process.env.WASMHOLE_RESUME_MIB || 300) << 20;
let work;
let gopeer;

before(async () => {
  work = await tmpdir();
});
after(async () => {
  stopCLIs();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

async function buildGopeer() {
  if (!gopeer) {
    gopeer = path.join(os.tmpdir(), `wasmhole-gopeer-${process.pid}`);
    await promisify(execFile)(GO, ['build', '-o', gopeer, './relay/worker/internal/gopeer'], {
      cwd: REPO,
      maxBuffer: 1 << 24,
    });
  }
  return gopeer;
}

/** A TCP proxy to 127.0.0.1:target whose connections can all be cut. */
async function cutProxy(target) {
  const socks = new Set();
  const srv = net.createServer((c) => {
    const u = net.connect(target, '127.0.0.1');
    for (const s of [c, u]) {
      socks.add(s);
      s.on('close', () => socks.delete(s));
      s.on('error', () => {});
    }
    c.pipe(u);
    u.pipe(c);
  });
  srv.listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  return {
    port: srv.address().port,
    cut() {
      for (const s of socks) s.destroy();
    },
    close() {
      this.cut();
      srv.close();
    },
  };
}

/**
 * Our relay behind a cutting TCP proxy: the page is loaded through the
 * proxy, so its mailbox and WebSocket transit connections run through it
 * (a cut drops both; the mailbox reconnects by itself).
 */
async function relayWithProxy() {
  const relay = await startRelay();
  const proxy = await cutProxy(Number(relay.http.split(':')[1]));
  const via = `127.0.0.1:${proxy.port}`;
  return {
    relay,
    proxy,
    pageURL: relay.pageURL.replace(relay.http, via),
    mailboxURL: `ws://${via}/v1`,
    transit: `ws://${via}/transit`,
  };
}

const sendStatus = (p) => p.getByRole('status', { name: 'Send status' });
const recvStatus = (p) => p.getByRole('status', { name: 'Receive status' });

async function pageSend(p, file) {
  await p.getByLabel('Files', { exact: true }).setInputFiles([file]);
  await p.getByRole('button', { name: 'Send', exact: true }).click();
  await p.waitForFunction(() => document.getElementById('code').value !== '', null, { timeout: 30000 });
  return p.getByRole('textbox', { name: 'Wormhole code' }).inputValue();
}

/** Types the code, accepts, and returns the download. */
async function pageReceive(p, code) {
  await p.getByRole('combobox', { name: 'Code' }).fill(code);
  await p.getByRole('button', { name: 'Receive', exact: true }).click();
  await p.getByRole('button', { name: 'Accept' }).waitFor({ timeout: 60000 });
  const [download] = await Promise.all([
    p.waitForEvent('download', { timeout: 60000 }),
    p.getByRole('button', { name: 'Accept' }).click(),
  ]);
  return download;
}

const bar = (p, id) =>
  p.evaluate((i) => {
    const b = document.getElementById(i);
    return { value: b.value, max: b.max };
  }, id);

/**
 * Resolves once the page's bar id passes fraction of the way; fails at
 * once if the page shows an error instead.
 */
async function passes(p, id, fraction) {
  const h = await p.waitForFunction(
    ([i, f]) => {
      const b = document.getElementById(i);
      if (b.max > 1 && b.value >= f * b.max) return 'ok';
      const err = document.querySelector('[role=status] p.error');
      return err && err.textContent ? `error: ${err.textContent}` : false;
    },
    [id, fraction],
    { timeout: 240000, polling: 20 },
  );
  const r = await h.jsonValue();
  if (r !== 'ok') throw new Error(r);
}

/** Watches a status element and collects every text it shows. */
async function recordStatus(p, name) {
  await p.evaluate((n) => {
    const el = document.querySelector(`[role=status][aria-label="${n}"]`);
    window.__seen = window.__seen || {};
    window.__seen[n] = [];
    new MutationObserver(() => window.__seen[n].push(el.textContent)).observe(el, {
      childList: true,
      characterData: true,
      subtree: true,
    });
  }, name);
  return () => p.evaluate((n) => window.__seen[n], name);
}

function logWorkers(p, tag) {
  if (!process.env.WASMHOLE_DEBUG) return;
  p.on('worker', (w) => w.on('console', (m) => console.log(`[${tag} worker]`, m.text())));
  p.on('crash', () => console.log(`[${tag}] crashed`));
}

async function pages(n) {
  const out = [];
  for (let i = 0; i < n; i++)
    out.push(await launch(process.env.WASMHOLE_CHROME_LOG ? { args: ['--enable-logging=stderr', '--v=0'] } : {}));
  return out;
}

/**
 * Page → page, 300 MiB, cut when the receiver passes 40 %: cut() does the
 * damage and resolves when it is over. Checks the download and reports
 * the bytes sent twice.
 */
async function pageToPage(t, relay, pageURL, cut) {
  const src = path.join(work, 'big.bin');
  const sum = await randomFile(src, BIG);
  const [a, b] = await pages(2);
  try {
    logWorkers(a.page, 'sender');
    logWorkers(b.page, 'receiver');
    await openPage(a.page, pageURL);
    await openPage(b.page, pageURL);
    const seenR = await recordStatus(b.page, 'Receive status');
    const seenS = await recordStatus(a.page, 'Send status');
    const code = await pageSend(a.page, src);
    const download = await pageReceive(b.page, code);
    await passes(b.page, 'receive-bar', 0.4);
    const sent = await bar(a.page, 'send-bar');
    const got = await bar(b.page, 'receive-bar');
    await cut();
    const saved = path.join(b.downloads, 'got.bin');
    await download.saveAs(saved);
    assert.equal(await download.failure(), null);
    await recvStatus(b.page)
      .getByText(/^Received/)
      .waitFor({ timeout: 600000 });
    assert.match(await sendStatus(a.page).textContent(), /SHA-256 matched/);
    assert.equal(await sha256File(saved), sum);
    const rs = await seenR();
    const lost = rs.find((s) => /Connection lost, reconnecting… .* kept\./.test(s));
    assert.ok(lost, `the receiver never showed the reconnect: ${rs.join(' | ')}`);
    assert.ok((await seenS()).some((s) => /Connection lost, reconnecting/.test(s)));
    // At the cut the receiver held at least got.value bytes and the sender
    // had passed sent.value to the connection: what lay between was in
    // flight and is sent again, nothing else.
    const inFlight = sent.value - got.value;
    t.diagnostic(
      `cut at ${got.value} of ${BIG} received, ${sent.value} sent; receiver showed “${lost}”; ` +
        `bytes re-sent ≤ ${inFlight} (${((100 * inFlight) / BIG).toFixed(1)} %)`,
    );
    assert.ok(inFlight < BIG * 0.6, 'the transfer started over');
    await fsp.rm(saved, { force: true });
  } catch (err) {
    const show = async (p, st, id) => {
      try {
        return `“${await st(p).textContent({ timeout: 2000 })}” ${JSON.stringify(await bar(p, id))}`;
      } catch (e) {
        return String(e).split('\n')[0];
      }
    };
    t.diagnostic(
      `${err}; sender: ${await show(a.page, sendStatus, 'send-bar')}; ` +
        `receiver: ${await show(b.page, recvStatus, 'receive-bar')}; relay log: ${relay.log().slice(-2000)}`,
    );
    throw err;
  } finally {
    await a.close();
    await b.close();
    await fsp.rm(src, { force: true });
  }
}

test('page → page 300 MiB survives a relay SIGKILL and restart', async (t) => {
  if (!need(t, CHROMIUM)) return;
  const relay = await startRelay({ db: true });
  try {
    await pageToPage(t, relay, relay.pageURL, async () => {
      await relay.kill();
      await new Promise((r) => setTimeout(r, 1500));
      await relay.restart();
    });
  } finally {
    await relay.stop();
  }
});

test('page → page 300 MiB survives its transit connections being cut', async (t) => {
  if (!need(t, CHROMIUM)) return;
  const { relay, proxy, pageURL } = await relayWithProxy();
  try {
    await pageToPage(t, relay, pageURL, async () => proxy.cut());
  } finally {
    proxy.close();
    await relay.stop();
  }
});

test('native → page and page → native survive a cut', async (t) => {
  if (!need(t, CHROMIUM)) return;
  const peer = await buildGopeer();
  const { relay, proxy, pageURL, mailboxURL, transit } = await relayWithProxy();
  const size = 64 << 20;
  const src = path.join(work, 'native.bin');
  const sum = await randomFile(src, size);
  const [b] = await pages(1);
  try {
    await openPage(b.page, pageURL);
    // native → page
    const snd = new CLI(peer, ['send', '-mailbox', mailboxURL, '-transit', transit, src]);
    const download = await pageReceive(b.page, await snd.code());
    await passes(b.page, 'receive-bar', 0.4);
    proxy.cut();
    await recvStatus(b.page)
      .getByText(/Connection lost, reconnecting/)
      .waitFor({ timeout: 30000 });
    const saved = path.join(b.downloads, 'from-native.bin');
    await download.saveAs(saved);
    assert.equal(await sha256File(saved), sum);
    assert.equal((await snd.wait(120000)).code, 0, snd.out);
    assert.match(snd.out, /resuming/, snd.out);

    // page → native
    await openPage(b.page, pageURL);
    const out = path.join(work, 'to-native.bin');
    const code = await pageSend(b.page, src);
    const rcv = new CLI(peer, ['receive', '-mailbox', mailboxURL, '-transit', transit, '-o', out, code]);
    await passes(b.page, 'send-bar', 0.4);
    proxy.cut();
    assert.equal((await rcv.wait(120000)).code, 0, rcv.out);
    assert.equal(await sha256File(out), sum);
    assert.match(rcv.out, /resuming/, rcv.out);
    await sendStatus(b.page)
      .getByText(/SHA-256 matched/)
      .waitFor({ timeout: 60000 });
  } finally {
    await b.close();
    proxy.close();
    await relay.stop();
  }
});

// A stock CLI never resumes: a cut ends the transfer on both sides with a
// clear error, within a bounded time, and nothing is acknowledged.
for (const [name, cmd, args] of [
  [
    'Python 0.12',
    'wormhole',
    (relay) => [
      '--relay-url',
      relay.mailboxURL,
      '--transit-helper',
      `tcp:${relay.tcp}`,
      'receive',
      '--no-listen',
      '--accept-file',
      '--hide-progress',
    ],
  ],
  // wormhole-william has no transit flag: it dials the page's relay hint.
  ['wormhole-william', 'wormhole-william', (relay) => ['receive', '--relay-url', relay.mailboxURL, '--hide-progress']],
]) {
  test(`page → ${name} with a cut: a clear error on both sides, no resume`, async (t) => {
    if (!need(t, CHROMIUM, cmd)) return;
    const { relay, proxy, pageURL } = await relayWithProxy();
    const src = path.join(work, 'stock.bin');
    await randomFile(src, 200 << 20);
    const out = await tmpdir();
    const [b] = await pages(1);
    try {
      let cli;
      for (let attempt = 1; ; attempt++) {
        await openPage(b.page, pageURL);
        const code = await pageSend(b.page, src);
        const extra = cmd === 'wormhole' ? ['-o', path.join(out, 'got.bin')] : [];
        cli = new CLI(cmd, [...args(relay), ...extra, code], { cwd: out, stdin: 'y\n' });
        // wormhole-william 1.0.6 sometimes fails SPAKE2 (see transfer.test.mjs).
        const how = await Promise.race([
          passes(b.page, 'send-bar', 0.2).then(() => 'ok'),
          sendStatus(b.page)
            .getByText(/wrong code/i)
            .waitFor({ timeout: 600000 })
            .then(() => 'pake'),
        ]);
        if (how === 'ok') break;
        await cli.wait(30000);
        if (attempt === 3) throw new Error(`${cmd}: wrong code three times: ${cli.out}`);
        t.diagnostic(`attempt ${attempt} hit wormhole-william's SPAKE2 bug; retrying`);
      }
      const start = Date.now();
      proxy.cut();
      const status = await sendStatus(b.page)
        .getByText(/disappeared|failed|lost/i)
        .waitFor({ timeout: 60000 })
        .then(() => sendStatus(b.page).textContent());
      const r = await cli.wait(60000);
      t.diagnostic(
        `after ${Date.now() - start} ms: page “${status}”; ${cmd} exit ${r.code}: ${cli.out.trim().split('\n').pop()}`,
      );
      assert.notEqual(r.code, 0, cli.out);
      assert.equal(r.sig, null, `${cmd} hung and was killed: ${cli.out}`);
      assert.doesNotMatch(status, /reconnecting|Sent\./);
      const left = await fsp.readdir(out);
      assert.ok(!left.includes('got.bin') && !left.includes('stock.bin'), `a file was kept: ${left}`);
    } finally {
      await b.close();
      proxy.close();
      await relay.stop();
      await fsp.rm(out, { recursive: true, force: true });
      await fsp.rm(src, { force: true });
    }
  });
}
