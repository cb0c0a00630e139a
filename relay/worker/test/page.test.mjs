// The page (web/, in headless Chromium through the web team's harness)
// sends a file through the Worker: mailbox on /v1, transit over the
// Worker's /transit bridged to our native relay, where the stock Python
// CLI, told nothing but the Worker's mailbox URL, meets it over TCP (the
// page's relay hint carries both addresses).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  REPO,
  startWorker,
  startNativeRelay,
  transitUsage,
  waitUsage,
  need,
  Proc,
  tmpdir,
  randomFile,
  sha256File,
} from './harness.mjs';

const webTest = path.join(REPO, 'web/test');
let web; // the web team's harness, when its dependencies are installed
let relay;
let worker;
let work;

before(async () => {
  if (fs.existsSync(path.join(webTest, 'node_modules/playwright-core'))) {
    // Build the site here (through bash, whatever the script's mode) and
    // let the web harness reuse it.
    await promisify(execFile)('bash', [path.join(REPO, 'scripts/build-web.sh'), path.join(REPO, 'dist')], {
      cwd: REPO,
      maxBuffer: 1 << 24,
    });
    process.env.WASMHOLE_SKIP_BUILD = '1';
    web = await import(path.join(webTest, 'harness.mjs'));
  }
  relay = await startNativeRelay();
  worker = await startWorker({ upstream: relay.tcp });
  work = await tmpdir();
});

after(async () => {
  await worker?.stop();
  await relay?.stop();
  if (worker) await fsp.rm(worker.persist, { recursive: true, force: true });
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
};

/**
 * Serves the built site with the relay's strict Content-Security-Policy,
 * widened only by connect-src for the Worker: the page runs on a static
 * host and talks to the Worker on another origin.
 */
async function serveSite(root, workerOrigin) {
  const csp =
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
    `img-src 'self' data: blob:; connect-src 'self' ${workerOrigin}; worker-src 'self' blob:; ` +
    "manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  const server = http.createServer((req, res) => {
    let p = path.join(root, decodeURIComponent(new URL(req.url, 'http://x').pathname));
    if (!p.startsWith(root)) {
      res.writeHead(403).end();
      return;
    }
    if (fs.existsSync(p) && fs.statSync(p).isDirectory()) p = path.join(p, 'index.html');
    if (!fs.existsSync(p)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': TYPES[path.extname(p)] || 'application/octet-stream',
      'Content-Security-Policy': csp,
    });
    fs.createReadStream(p).pipe(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

test('the page sends a file through the Worker to the Python CLI', async (t) => {
  if (!web) {
    if (process.env.CI) throw new Error('web/test dependencies (playwright-core) are not installed');
    t.skip('web/test dependencies not installed (npm ci in web/test)');
    return;
  }
  if (!need(t, 'wormhole', web.CHROMIUM)) return;
  const site = await web.makeSite({ mailbox: worker.mailboxURL, transit: worker.transitURL, transitTCP: relay.tcp });
  const server = await serveSite(site.root, `ws://127.0.0.1:${worker.port}`);
  const b = await web.launch();
  try {
    const size = 1 << 20;
    const src = path.join(work, 'from-page.bin');
    const sum = await randomFile(src, size);
    const out = path.join(work, 'from-page.out');
    const skip = transitUsage(worker).length;

    await web.openPage(b.page, `${server.url}/${site.prefix}/`);
    const p = b.page;
    await p.getByLabel('Files', { exact: true }).setInputFiles([src]);
    await p.getByRole('button', { name: 'Send', exact: true }).click();
    await p.waitForFunction(() => document.getElementById('code').value !== '', null, { timeout: 30000 });
    const code = await p.getByRole('textbox', { name: 'Wormhole code' }).inputValue();

    // No --transit-helper: the CLI dials the relay's TCP address from the
    // page's relay hint.
    const cli = new Proc('wormhole', [
      '--relay-url',
      worker.mailboxURL,
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
    assert.match(cli.out, new RegExp(`relay:tcp:${relay.tcp.replace(/\./g, '\\.')}`), cli.out);
    assert.equal(await sha256File(out), sum);
    const status = p.getByRole('status', { name: 'Send status' });
    await status.getByText(/^Sent\.|failed|cancel|rejected/).waitFor({ timeout: 60000 });
    assert.match(await status.textContent(), /^Sent\./);
    assert.deepEqual(b.errors, []);
    // The page's bytes went through the Worker's bridge.
    const bridged = await waitUsage(worker, skip, (u) => u.mood === 'bridged' && u.bytes >= size);
    assert.equal(bridged.length, 1, JSON.stringify(transitUsage(worker).slice(skip)));
  } finally {
    await b.close();
    await server.close();
    await fsp.rm(site.root, { recursive: true, force: true });
  }
});
