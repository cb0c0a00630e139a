// Where the page finds its relays (web/app/config.js): query parameters
// over saved settings over config.json over the relay's /relay.json over
// the page's origin; the public mailbox's two spellings; https dials only
// wss://. Unit tests in node, then the page in Chromium reading a
// /relay.json whose TCP transit is not on port 4001: a stub, then our
// relay with a file to `wormhole receive` given no --transit-helper.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { resolveConfig, cliCommand, clientOptions } from '../app/config.js';
import {
  launch,
  openPage,
  makeSite,
  startRelay,
  CLI,
  randomFile,
  sha256File,
  tmpdir,
  need,
  CHROMIUM,
  stopCLIs,
} from './harness.mjs';
import { serveStatic } from './static.mjs';

const HTTP = { protocol: 'http:', host: 'page.test:8080', hostname: 'page.test' };
const HTTPS = { protocol: 'https:', host: 'page.test', hostname: 'page.test' };
const RELAY = {
  mailbox: 'ws://relay.test:4000/v1',
  transit: 'ws://relay.test:4000/transit',
  transitTCP: 'tcp:relay.test:5001',
};
const FILE = { mailbox: 'ws://file.test/v1', transit: 'ws://file.test/transit', transitTCP: 'file.test:4001' };

function cfg({ query = '', saved = {}, file = {}, relay = null, location = HTTP } = {}) {
  return resolveConfig({ query: new URLSearchParams(query), saved, file, relay, location });
}

test('precedence: query > saved settings > config.json > /relay.json > origin', () => {
  const cases = [
    {
      name: 'origin',
      src: {},
      want: { mailbox: 'ws://page.test:8080/v1', transit: 'ws://page.test:8080/transit', transitTCP: 'page.test:4001' },
    },
    {
      name: 'relay.json',
      src: { relay: RELAY },
      want: { mailbox: RELAY.mailbox, transit: RELAY.transit, transitTCP: 'relay.test:5001' },
    },
    {
      name: 'config.json over relay.json',
      src: { file: FILE, relay: RELAY },
      want: { mailbox: FILE.mailbox, transit: FILE.transit, transitTCP: FILE.transitTCP },
    },
    {
      name: 'one key from each',
      src: { file: { mailbox: FILE.mailbox }, relay: { transit: RELAY.transit } },
      want: { mailbox: FILE.mailbox, transit: RELAY.transit, transitTCP: 'page.test:4001' },
    },
    {
      name: 'saved over config.json',
      src: { saved: { mailbox: 'ws://saved.test/v1' }, file: FILE, relay: RELAY },
      want: { mailbox: 'ws://saved.test/v1', transit: FILE.transit, transitTCP: FILE.transitTCP },
    },
    {
      name: 'query over everything',
      src: {
        query: 'mailbox=ws://q.test/v1&transit-tcp=q.test:9',
        saved: { mailbox: 'ws://saved.test/v1' },
        file: FILE,
        relay: RELAY,
      },
      want: { mailbox: 'ws://q.test/v1', transit: FILE.transit, transitTCP: 'q.test:9' },
    },
    {
      name: 'none turns TCP off',
      src: { file: { transitTCP: 'none' }, relay: RELAY },
      want: { mailbox: RELAY.mailbox, transit: RELAY.transit, transitTCP: '' },
    },
  ];
  for (const c of cases) {
    const got = cfg(c.src);
    assert.deepEqual({ mailbox: got.mailbox, transit: got.transit, transitTCP: got.transitTCP }, c.want, c.name);
  }
});

test('a page served over https dials only wss://', () => {
  const cases = [
    [{}, 'wss://page.test/v1', 'wss://page.test/transit'],
    [
      { relay: { mailbox: 'ws://relay.test:4000/v1', transit: 'ws://relay.test:4000/transit' } },
      'wss://relay.test:4000/v1',
      'wss://relay.test:4000/transit',
    ],
    [
      { file: { mailbox: 'ws://relay.magic-wormhole.io:4000/v1' } },
      'wss://relay.magic-wormhole.io/v1',
      'wss://page.test/transit',
    ],
    [{ query: 'mailbox=ws://q.test/v1&transit=wss://t.test/transit' }, 'wss://q.test/v1', 'wss://t.test/transit'],
  ];
  for (const [src, mailbox, transit] of cases) {
    const got = cfg({ ...src, location: HTTPS });
    assert.equal(got.mailbox, mailbox);
    assert.equal(got.transit, transit);
    const opts = clientOptions(got);
    assert.ok(
      [opts.mailboxURL, ...opts.relays[0].websocket].every((u) => u.startsWith('wss://')),
      JSON.stringify(opts),
    );
  }
  // Over http a ws:// address stays as it is.
  assert.equal(
    cfg({ file: { mailbox: 'ws://relay.magic-wormhole.io:4000/v1' } }).mailbox,
    'ws://relay.magic-wormhole.io:4000/v1',
  );
});

test('both spellings of the public mailbox are the CLI default: no --relay-url', () => {
  for (const mailbox of ['ws://relay.magic-wormhole.io:4000/v1', 'wss://relay.magic-wormhole.io/v1']) {
    for (const location of [HTTP, HTTPS]) {
      assert.equal(
        cliCommand(cfg({ file: { mailbox }, location }), '7-a-b'),
        'wormhole receive 7-a-b',
        `${mailbox} ${location.protocol}`,
      );
    }
  }
  assert.equal(
    cliCommand(cfg({ file: { mailbox: 'wss://relay.magic-wormhole.io:4000/v1' } }), '7-a-b'),
    'wormhole --relay-url wss://relay.magic-wormhole.io:4000/v1 receive 7-a-b',
  );
  assert.equal(cliCommand(cfg({ relay: RELAY }), '7-a-b'), `wormhole --relay-url ${RELAY.mailbox} receive 7-a-b`);
  assert.equal(
    cliCommand(cfg({ file: { transitTCP: 'none', cliTransitHelper: 'tcp:h.test:4001' } }), '7-a-b'),
    'wormhole --relay-url ws://page.test:8080/v1 --transit-helper tcp:h.test:4001 receive 7-a-b',
  );
});

let site;
let server;

before(async () => {
  site = await makeSite({ mailbox: '', transit: '', transitTCP: '' });
  server = await serveStatic(site.root);
});

after(async () => {
  stopCLIs();
  await server?.close();
  if (site) await fsp.rm(site.root, { recursive: true, force: true });
});

test('the page reads /relay.json when config.json leaves an address empty; query and config.json win', async (t) => {
  if (!need(t, CHROMIUM)) return;
  const origin = server.url.replace('http://', '');
  // What our relay answers (a TCP transit on a port other than 4001).
  await fsp.writeFile(
    path.join(site.root, 'relay.json'),
    JSON.stringify({
      mailbox: `ws://${origin}/relay-mailbox/v1`,
      transit: `ws://${origin}/relay-transit`,
      transitTCP: 'tcp:127.0.0.1:5123',
    }),
  );
  const dir = path.join(site.root, site.prefix);
  const b = await launch();
  try {
    const read = () => b.page.evaluate(() => ({ ...window.wasmhole.client }));
    await openPage(b.page, `${server.url}/${site.prefix}/`);
    assert.deepEqual(await read(), {
      appID: 'lothar.com/wormhole/text-or-file-xfer',
      mailboxURL: `ws://${origin}/relay-mailbox/v1`,
      relays: [{ websocket: [`ws://${origin}/relay-transit`], tcp: ['127.0.0.1:5123'] }],
    });
    assert.equal(await b.page.locator('#set-transit-tcp').getAttribute('placeholder'), '127.0.0.1:5123');

    await fsp.writeFile(
      path.join(dir, 'config.json'),
      JSON.stringify({ mailbox: '', transit: '', transitTCP: 'cfg.test:7000' }),
    );
    await openPage(b.page, `${server.url}/${site.prefix}/?mailbox=ws://${origin}/query/v1`);
    const c = await read();
    assert.equal(c.mailboxURL, `ws://${origin}/query/v1`);
    assert.deepEqual(c.relays, [{ websocket: [`ws://${origin}/relay-transit`], tcp: ['cfg.test:7000'] }]);
  } finally {
    await b.close();
  }
});

test('our relay with an empty config.json: the page advertises its real TCP transit port and the CLI needs no flag', async (t) => {
  if (!need(t, CHROMIUM, 'wormhole')) return;
  const relay = await startRelay({ config: { mailbox: '', transit: '', transitTCP: '' } });
  const work = await tmpdir();
  const b = await launch();
  try {
    const port = Number(relay.tcp.split(':')[1]);
    assert.notEqual(port, 4001);
    await openPage(b.page, relay.pageURL);
    const client = await b.page.evaluate(() => ({ ...window.wasmhole.client }));
    assert.equal(client.mailboxURL, relay.mailboxURL);
    assert.deepEqual(client.relays, [{ websocket: [relay.transitURL], tcp: [relay.tcp] }]);
    const src = path.join(work, 'hint.bin');
    const sum = await randomFile(src, 200000);
    await b.page.getByLabel('Files', { exact: true }).setInputFiles([src]);
    await b.page.getByRole('button', { name: 'Send', exact: true }).click();
    await b.page.waitForFunction(() => document.getElementById('code').value !== '', null, { timeout: 60000 });
    const code = await b.page.locator('#code').inputValue();
    assert.equal(
      await b.page.locator('#cli-command').textContent(),
      `wormhole --relay-url ${relay.mailboxURL} receive ${code}`,
    );
    const cli = new CLI('wormhole', [
      '--relay-url',
      relay.mailboxURL,
      'receive',
      '--no-listen',
      '--accept-file',
      '--hide-progress',
      '-o',
      path.join(work, 'got.bin'),
      code,
    ]);
    const r = await cli.wait(120000);
    assert.equal(r.code, 0, cli.out);
    assert.equal(await sha256File(path.join(work, 'got.bin')), sum);
  } finally {
    await b.close();
    await relay.stop();
    await fsp.rm(work, { recursive: true, force: true });
  }
});
