// The first second: the page is live from its first paint. A form
// submitted before app.js ran, or before the wasm client is ready, is
// carried out as soon as it can be, with a visible "Starting…"; a file
// chosen meanwhile is kept. The wasm (and app.js) are held back until the
// test has acted, so the test never races the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { launch, startRelay, CLI, randomFile, sha256File, tmpdir, need, CHROMIUM, stopCLIs } from './harness.mjs';

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

/** Holds back requests whose URL matches re until the returned release(). */
async function hold(context, re) {
  let release;
  const released = new Promise((r) => {
    release = r;
  });
  await context.route(re, async (route) => {
    await released;
    await route.continue().catch(() => {});
  });
  return release;
}

const sendStatus = (p) => p.getByRole('status', { name: 'Send status' });

async function receiveWithCLI(p, args) {
  await p.waitForFunction(() => document.getElementById('code').value !== '', null, { timeout: 60000 });
  const code = await p.locator('#code').inputValue();
  const cli = new CLI('wormhole', ['--relay-url', relay.mailboxURL, 'receive', '--hide-progress', ...args, code]);
  const r = await cli.wait(120000);
  assert.equal(r.code, 0, cli.out);
  return cli.out;
}

test('Send pressed before app.js ran and before the wasm is ready: the text goes out once it is', async (t) => {
  if (!need(t, CHROMIUM, 'wormhole')) return;
  const b = await launch();
  try {
    const p = b.page;
    const releaseApp = await hold(b.context, /\/web\/app\.js$/);
    const releaseWasm = await hold(b.context, /wasmhole\.wasm/);
    await p.goto(relay.pageURL, { waitUntil: 'commit' });
    const text = 'sent before the page was ready ✓';
    await p.getByLabel('Text', { exact: true }).fill(text);
    assert.equal(
      await p.evaluate(() => document.documentElement.dataset.interactive),
      undefined,
      'app.js ran already: the test did not click early',
    );
    await p.getByRole('button', { name: 'Send', exact: true }).click();
    releaseApp();
    // app.js replays the held submit; the client is still starting.
    await sendStatus(p)
      .getByText(/Starting/)
      .waitFor({ timeout: 30000 });
    assert.equal(await p.evaluate(() => document.documentElement.dataset.client), 'starting');
    releaseWasm();
    const out = await receiveWithCLI(p, []);
    assert.ok(out.includes(text), out);
    await sendStatus(p)
      .getByText(/^Sent\./)
      .waitFor({ timeout: 60000 });
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});

test('a file chosen before the client is ready is kept and sent', async (t) => {
  if (!need(t, CHROMIUM, 'wormhole')) return;
  const src = path.join(work, 'early.bin');
  const sum = await randomFile(src, 300000);
  const out = await tmpdir();
  const b = await launch();
  try {
    const p = b.page;
    const releaseApp = await hold(b.context, /\/web\/app\.js$/);
    const releaseWasm = await hold(b.context, /wasmhole\.wasm/);
    await p.goto(relay.pageURL, { waitUntil: 'commit' });
    // Before app.js: the input keeps the file, app.js picks it up.
    await p.getByLabel('Files', { exact: true }).setInputFiles([src]);
    assert.equal(await p.evaluate(() => document.documentElement.dataset.interactive), undefined);
    releaseApp();
    await p.waitForFunction(() => document.documentElement.dataset.interactive === 'true', null, { timeout: 30000 });
    assert.match(await p.locator('#selection').textContent(), /early\.bin/);
    // Still starting: Send waits for the client.
    assert.equal(await p.evaluate(() => document.documentElement.dataset.client), 'starting');
    await p.getByRole('button', { name: 'Send', exact: true }).click();
    await sendStatus(p)
      .getByText(/Starting/)
      .waitFor({ timeout: 30000 });
    releaseWasm();
    await receiveWithCLI(p, ['--accept-file', '-o', path.join(out, 'got.bin')]);
    assert.equal(await sha256File(path.join(out, 'got.bin')), sum);
    await sendStatus(p)
      .getByText(/SHA-256 matched/)
      .waitFor({ timeout: 60000 });
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
    await fsp.rm(out, { recursive: true, force: true });
  }
});

test('Receive pressed before the client is ready runs once it is', async (t) => {
  if (!need(t, CHROMIUM, 'wormhole')) return;
  const b = await launch();
  try {
    const p = b.page;
    const releaseWasm = await hold(b.context, /wasmhole\.wasm/);
    const cli = new CLI('wormhole', [
      '--relay-url',
      relay.mailboxURL,
      '--transit-helper',
      `tcp:${relay.tcp}`,
      'send',
      '--hide-progress',
      '--text',
      'to an early receiver',
    ]);
    const code = await cli.code();
    await p.goto(relay.pageURL, { waitUntil: 'commit' });
    await p.waitForFunction(() => document.documentElement.dataset.interactive === 'true', null, { timeout: 30000 });
    await p.getByRole('combobox', { name: 'Code' }).fill(code);
    await p.getByRole('button', { name: 'Receive', exact: true }).click();
    const status = p.getByRole('status', { name: 'Receive status' });
    await status.getByText(/Starting/).waitFor({ timeout: 30000 });
    releaseWasm();
    await status.getByText('Text received.').waitFor({ timeout: 60000 });
    assert.equal(await p.locator('#offer-message').textContent(), 'to an early receiver');
    assert.equal((await cli.wait(60000)).code, 0, cli.out);
  } finally {
    await b.close();
  }
});
