// UI tests that need no relay: the page under the relay's CSP from a deep
// path, keyboard completion, the link fragment, the service-worker download
// stream and the wasm integrity check. Run: node --test (in web/test).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { launch, openPage, makeSite, screenshot, sha256File, need, CHROMIUM } from './harness.mjs';
import { serveStatic } from './static.mjs';

let site;
let server;
let url;

before(async () => {
  // No relay: the same-origin defaults (/v1, /transit) get 404 from this
  // static server, like a page on a static host without any relay.
  site = await makeSite({ mailbox: '', transit: '', transitTCP: '' });
  server = await serveStatic(site.root);
  url = `${server.url}/${site.prefix}/`;
});

after(async () => {
  await server?.close();
  if (site) await fsp.rm(site.root, { recursive: true, force: true });
});

test('page starts under the CSP from a deep path, accessible names present', async (t) => {
  if (!need(t, CHROMIUM)) return;
  const b = await launch();
  try {
    await openPage(b.page, url);
    const p = b.page;
    await p.getByLabel('Files').waitFor({ state: 'attached' });
    assert.equal(await p.getByLabel('Text', { exact: true }).count(), 1);
    assert.equal(await p.getByRole('button', { name: 'Send', exact: true }).count(), 1);
    assert.equal(await p.getByRole('combobox', { name: 'Code' }).count(), 1);
    assert.equal(await p.getByRole('button', { name: 'Receive', exact: true }).count(), 1);
    assert.equal(await p.getByRole('status', { name: 'Send status' }).count(), 1);
    assert.equal(await p.getByRole('status', { name: 'Receive status' }).count(), 1);
    // No inline script or style anywhere in the document.
    const inline = await p.evaluate(
      () => [...document.scripts].filter((s) => !s.src).length + document.querySelectorAll('style, [style]').length,
    );
    assert.equal(inline, 0);
    assert.deepEqual(
      b.errors.filter((e) => /Content Security Policy|Refused/.test(e)),
      [],
    );
    await screenshot(p, 'start-desktop');
  } finally {
    await b.close();
  }
});

test('dark mode and a mobile layout', async (t) => {
  if (!need(t, CHROMIUM)) return;
  const b = await launch({ colorScheme: 'dark', viewport: { width: 390, height: 844 } });
  try {
    await openPage(b.page, url);
    const bg = await b.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(bg, 'rgb(15, 17, 21)');
    // One column: Receive sits below Send.
    const send = await b.page.locator('#send').boundingBox();
    const recv = await b.page.locator('#receive').boundingBox();
    assert.ok(recv.y > send.y + send.height - 1, 'receive card below send card');
    assert.ok(send.width <= 390);
    await screenshot(b.page, 'start-mobile-dark');
  } finally {
    await b.close();
  }
});

test('code completion works from the keyboard', async (t) => {
  if (!need(t, CHROMIUM)) return;
  const b = await launch();
  try {
    await openPage(b.page, url);
    const p = b.page;
    const input = p.getByRole('combobox', { name: 'Code' });
    await input.focus();
    await p.keyboard.type('7-gui');
    await p.getByRole('option', { name: '7-guitarist' }).waitFor();
    assert.equal(await input.getAttribute('aria-expanded'), 'true');
    await p.keyboard.press('Tab'); // the only match: Tab completes it
    assert.equal(await input.inputValue(), '7-guitarist-');
    await p.keyboard.type('re');
    // Wait until the list shows the completions of "re", not of "r".
    await p.waitForFunction(() => {
      const o = [...document.querySelectorAll('#code-options [role=option]')].map((e) => e.textContent);
      return o.length > 0 && o.every((x) => x.startsWith('7-guitarist-re'));
    });
    const opts = await p.getByRole('option').allTextContents();
    assert.ok(opts.includes('7-guitarist-revenge'), opts.join(','));
    assert.ok(opts.every((o) => o.startsWith('7-guitarist-re')));
    // Walk down to "revenge" with the arrow keys and take it with Enter.
    for (let i = 0; i <= opts.indexOf('7-guitarist-revenge'); i++) await p.keyboard.press('ArrowDown');
    assert.match(await input.getAttribute('aria-activedescendant'), /^code-opt-/);
    await p.keyboard.press('Enter');
    assert.equal(await input.inputValue(), '7-guitarist-revenge');
    await p.getByRole('listbox').waitFor({ state: 'hidden' });
    // Escape closes the list without changing the text.
    await input.fill('');
    await p.keyboard.type('3-a');
    await p.getByRole('option').first().waitFor();
    await p.keyboard.press('Escape');
    await p.getByRole('listbox').waitFor({ state: 'hidden' });
    assert.equal(await input.inputValue(), '3-a');
    // The focus is visible (an outline) on the focused control.
    const outline = await input.evaluate((el) => getComputedStyle(el).outlineStyle);
    assert.equal(outline, 'solid');
  } finally {
    await b.close();
  }
});

test('a bad code is refused before connecting', async (t) => {
  if (!need(t, CHROMIUM)) return;
  const b = await launch();
  try {
    await openPage(b.page, url);
    await b.page.getByRole('combobox', { name: 'Code' }).fill('guitarist-revenge');
    await b.page.getByRole('button', { name: 'Receive', exact: true }).click();
    await b.page.getByRole('status', { name: 'Receive status' }).getByText('must start with a number').waitFor();
  } finally {
    await b.close();
  }
});

test('the unreachable relay gets a clear message', async (t) => {
  if (!need(t, CHROMIUM)) return;
  const b = await launch();
  try {
    await openPage(b.page, url);
    await b.page.getByLabel('Text', { exact: true }).fill('hi');
    await b.page.getByRole('button', { name: 'Send', exact: true }).click();
    await b.page
      .getByRole('status', { name: 'Send status' })
      .getByText('Cannot reach the relay')
      .waitFor({ timeout: 60000 });
    // A clean state: the form works again.
    assert.equal(await b.page.getByRole('button', { name: 'Send', exact: true }).isEnabled(), true);
    await b.page.getByRole('combobox', { name: 'Code' }).fill('7-guitarist-revenge');
    await b.page.getByRole('button', { name: 'Receive', exact: true }).click();
    await b.page
      .getByRole('status', { name: 'Receive status' })
      .getByText('Cannot reach the relay')
      .waitFor({ timeout: 60000 });
    assert.equal(await b.page.getByRole('button', { name: 'Receive', exact: true }).isEnabled(), true);
  } finally {
    await b.close();
  }
});

test('the link fragment fills the receive form', async (t) => {
  if (!need(t, CHROMIUM)) return;
  const b = await launch();
  try {
    await openPage(b.page, `${url}#12-aardvark-adroitness`);
    assert.equal(await b.page.getByRole('combobox', { name: 'Code' }).inputValue(), '12-aardvark-adroitness');
  } finally {
    await b.close();
  }
});

// xorshift32 bytes, identical in the page and here.
function prng(n, seed = 0x9e3779b9) {
  const out = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  return out;
}

// Runs the producer side of the sink protocol in the page (what the wasm
// worker does), so sw.js and the download path are tested on their own.
async function produce(page, n, abortAt = -1) {
  return page.evaluate(
    async ([n, abortAt]) => {
      const s = await window.wasmhole.downloadSink('stream test.bin', n);
      if (!s) return 'no service worker';
      let credits = 0;
      let wake = null;
      let done = false;
      s.port.onmessage = (e) => {
        if (e.data.type === 'credit') credits += e.data.n;
        if (e.data.type === 'done') done = true;
        if (e.data.type === 'cancel') done = 'cancelled';
        if (wake) {
          wake();
          wake = null;
        }
      };
      s.start();
      let x = 0x9e3779b9;
      const chunk = 256 * 1024;
      let maxCredits = 0;
      for (let off = 0; off < n; off += chunk) {
        while (credits === 0)
          await new Promise((r) => {
            wake = r;
          });
        maxCredits = Math.max(maxCredits, credits);
        credits--;
        if (abortAt >= 0 && off >= abortAt) {
          s.port.postMessage({ type: 'abort', message: 'peer went away' });
          return 'aborted';
        }
        const len = Math.min(chunk, n - off);
        const b = new Uint8Array(len);
        const v = new DataView(b.buffer);
        for (let i = 0; i < len; i += 4) {
          x ^= x << 13;
          x >>>= 0;
          x ^= x >>> 17;
          x ^= x << 5;
          x >>>= 0;
          v.setUint32(i, x, true);
        }
        s.port.postMessage({ type: 'chunk', data: b.buffer }, [b.buffer]);
      }
      s.port.postMessage({ type: 'end' });
      while (!done)
        await new Promise((r) => {
          wake = r;
        });
      s.stop();
      return { done, maxCredits };
    },
    [n, abortAt],
  );
}

test('a streamed download through the service worker arrives byte for byte', async (t) => {
  if (!need(t, CHROMIUM)) return;
  const b = await launch();
  try {
    await openPage(b.page, url);
    const n = 64 << 20;
    const [download, res] = await Promise.all([
      b.page.waitForEvent('download', { timeout: 120000 }),
      produce(b.page, n),
    ]);
    assert.equal(res.done, true);
    // Pull-based: the service worker never grants more than one credit ahead.
    assert.ok(res.maxCredits <= 1, `credits ran ahead: ${res.maxCredits}`);
    assert.equal(download.suggestedFilename(), 'stream test.bin');
    const saved = path.join(b.downloads, 'saved.bin');
    await download.saveAs(saved);
    assert.equal(await download.failure(), null);
    const want = createHash('sha256').update(prng(n)).digest('hex');
    assert.equal(await sha256File(saved), want);
  } finally {
    await b.close();
  }
});

test('an aborted stream fails the download instead of saving a truncated file', async (t) => {
  if (!need(t, CHROMIUM)) return;
  const b = await launch();
  try {
    await openPage(b.page, url);
    const [download, res] = await Promise.all([
      b.page.waitForEvent('download', { timeout: 60000 }),
      produce(b.page, 8 << 20, 2 << 20),
    ]);
    assert.equal(res, 'aborted');
    assert.notEqual(await download.failure(), null);
  } finally {
    await b.close();
  }
});

test('a wasm that does not match its hash is refused', async (t) => {
  if (!need(t, CHROMIUM)) return;
  const hashFile = path.join(site.dir, 'web/wasm-hash.js');
  const orig = await fsp.readFile(hashFile, 'utf8');
  await fsp.writeFile(hashFile, orig.replace(/"[0-9a-f]{64}"/, `"${'0'.repeat(64)}"`));
  const b = await launch();
  try {
    await b.page.goto(url);
    await b.page.getByRole('alert').getByText('integrity check').waitFor({ timeout: 30000 });
    assert.equal(await b.page.evaluate(() => document.documentElement.dataset.ready), undefined);
  } finally {
    await fsp.writeFile(hashFile, orig);
    await b.close();
  }
});
