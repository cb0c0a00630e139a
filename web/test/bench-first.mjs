// The first second, measured with no DevTools client attached: a plain
// `chromium --headless` with a fresh profile (cold cache) starts on a blank
// page of another origin, then navigates to the page on our relay on
// loopback, so times count from the page's navigation, not the browser's
// launch; a bench script added to a copy of the site
// drives it like a user and reports the page's Performance marks by
// navigating to a local endpoint. Rounds interleave three users:
//   early: presses Send the moment the page is interactive (before the wasm)
//   typed: focuses the text field (a code is reserved), sends 1 s after ready
//   cold:  sets the text without any sign of intent, sends 1 s after ready
//          (the reference: the code is allocated only at Send, as before)
//   blank: a page with one paragraph and no script work (the ceiling for
//          first paint on this machine at this moment)
// Printed: time to interactive, time to wasm ready, first contentful paint,
// Send -> code shown, and the mailbox's bare WebSocket welcome time (the
// ceiling for a code that is not reserved), plus the wasm's size.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { once } from 'node:events';
import { startRelay, buildSite, CHROMIUM } from './harness.mjs';

const ROUNDS = Number(process.env.ROUNDS || 5);

const BLANK_HTML =
  '<!doctype html><meta charset="utf-8"><title>blank</title><p>blank page</p><script src="web/bench-blank.js"></script>';
const BLANK_JS = `addEventListener('load', () => setTimeout(() => {
  const fcp = (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime;
  location.href = REPORT + '?r=' + encodeURIComponent(JSON.stringify({ mode: 'blank', fcp }));
}, 200));
`;

const DRIVER = `// bench driver, added to the bench's copy of the site only
const mode = new URLSearchParams(location.search).get('bench');
const mark = (n) => (performance.getEntriesByName(n)[0] || {}).startTime;
const until = async (f) => { while (!f()) await new Promise((r) => setTimeout(r, 2)); };
(async () => {
  await until(() => mark('wasmhole-interactive') !== undefined);
  const text = document.getElementById('text');
  if (mode === 'typed') text.focus();
  text.value = 'bench';
  if (mode !== 'early') {
    await until(() => mark('wasmhole-ready') !== undefined);
    await new Promise((r) => setTimeout(r, 1000));
  }
  document.getElementById('send-button').click();
  await until(() => mark('wasmhole-code') !== undefined);
  await until(() => mark('wasmhole-ready') !== undefined);
  // The ceiling: one WebSocket to the mailbox until its welcome.
  const t0 = performance.now();
  const ws = new WebSocket(window.wasmhole.client.mailboxURL);
  await new Promise((r) => { ws.onmessage = r; ws.onerror = r; });
  const wsWelcome = performance.now() - t0;
  ws.close();
  const fcp = (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime;
  const r = { mode, fcp, interactive: mark('wasmhole-interactive'), ready: mark('wasmhole-ready'),
    sendToCode: mark('wasmhole-code') - mark('wasmhole-send'), wsWelcome };
  location.href = REPORT + '?r=' + encodeURIComponent(JSON.stringify(r));
})();
`;

async function reportServer() {
  let waiter = null;
  const srv = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname === '/start') {
      // The browser starts here, on another origin, and navigates to the
      // page once it is up: the page's times then count from its own
      // navigation with a warm browser and a cold cache, not from the
      // browser's launch (which alone takes ~0.7 s here).
      res.setHeader('content-type', 'text/html');
      res.end(
        `<!doctype html><script>setTimeout(() => { location.href = ${JSON.stringify(u.searchParams.get('to'))}; }, 1500);</script>`,
      );
      return;
    }
    res.end('ok');
    if (u.pathname === '/report' && waiter) waiter(JSON.parse(u.searchParams.get('r')));
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return {
    url: `http://127.0.0.1:${srv.address().port}/report`,
    start: (to) => `http://127.0.0.1:${srv.address().port}/start?to=${encodeURIComponent(to)}`,
    next: () =>
      new Promise((r) => {
        waiter = r;
      }),
    close: () => srv.close(),
  };
}

async function round(url, mode, report) {
  const profile = await fsp.mkdtemp(path.join(os.tmpdir(), 'wasmhole-bench-profile-'));
  const got = report.next();
  const proc = spawn(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      report.start(`${url}?bench=${mode}`),
    ],
    { stdio: 'ignore' },
  );
  const timeout = new Promise((_, rej) => setTimeout(() => rej(new Error(`${mode}: no report in 60 s`)), 60000));
  try {
    return await Promise.race([got, timeout]);
  } finally {
    proc.kill('SIGKILL');
    await fsp.rm(profile, { recursive: true, force: true }).catch(() => {});
  }
}

function sizes(wasm) {
  const b = fs.readFileSync(wasm);
  const gz = zlib.gzipSync(b, { level: 9 }).length;
  const br = zlib.brotliCompressSync(b, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: b.length,
    },
  }).length;
  return { raw: b.length, gz, br };
}

const range = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[Math.floor(s.length / 2)].toFixed(0)} ms (${s[0].toFixed(0)}-${s[s.length - 1].toFixed(0)})`;
};

async function main() {
  await buildSite();
  const report = await reportServer();
  const relay = await startRelay();
  try {
    const dir = relay.site.dir;
    await fsp.writeFile(path.join(dir, 'web/bench-driver.js'), DRIVER.replace('REPORT', JSON.stringify(report.url)));
    const html = await fsp.readFile(path.join(dir, 'index.html'), 'utf8');
    await fsp.writeFile(
      path.join(dir, 'index.html'),
      html.replace('</head>', '<script type="module" src="web/bench-driver.js"></script>\n</head>'),
    );
    await fsp.writeFile(path.join(dir, 'blank.html'), BLANK_HTML);
    await fsp.writeFile(path.join(dir, 'web/bench-blank.js'), BLANK_JS.replace('REPORT', JSON.stringify(report.url)));
    const all = { early: [], typed: [], cold: [] };
    const blank = [];
    for (let i = 0; i < ROUNDS; i++) {
      blank.push(await round(`${relay.pageURL}blank.html`, 'blank', report));
      for (const mode of Object.keys(all)) all[mode].push(await round(relay.pageURL, mode, report));
    }
    const every = Object.values(all).flat();
    const s = sizes(path.join(dir, 'web/wasmhole.wasm'));
    console.log(
      `first second: ${ROUNDS} rounds per user, chromium --headless (no DevTools client), fresh profile each (cold cache, warm browser), loopback`,
    );
    console.log(`  first contentful paint         ${range(every.map((r) => r.fcp))}`);
    console.log(`  blank page first paint         ${range(blank.map((r) => r.fcp))}   (ceiling)`);
    console.log(`  time to interactive            ${range(every.map((r) => r.interactive))}   (handlers attached)`);
    console.log(`  interactive - first paint      ${range(every.map((r) => r.interactive - r.fcp))}`);
    console.log(
      `  wasm client ready              ${range(every.map((r) => r.ready))}   (before: the page was interactive only now)`,
    );
    console.log(`  Send -> code, reserved (typed) ${range(all.typed.map((r) => r.sendToCode))}`);
    console.log(
      `  Send -> code, at Send (cold)   ${range(all.cold.map((r) => r.sendToCode))}   (reference: allocated at Send)`,
    );
    console.log(`  Send -> code, Send at TTI      ${range(all.early.map((r) => r.sendToCode))}   (waits for the wasm)`);
    console.log(
      `  mailbox WebSocket welcome      ${range(every.map((r) => r.wsWelcome))}   (ceiling for an unreserved code)`,
    );
    const cold = all.cold.map((r) => r.sendToCode).sort((a, b) => a - b);
    const typed = all.typed.map((r) => r.sendToCode).sort((a, b) => a - b);
    console.log(`  ratio reserved/cold (median)   ${(typed[typed.length >> 1] / cold[cold.length >> 1]).toFixed(3)}`);
    console.log(
      `wasmhole.wasm: ${s.raw} bytes, ${s.gz} gzip -9 (${(s.gz / 1e6).toFixed(3)} MB), ${s.br} brotli -q 11 (${(s.br / 1e6).toFixed(3)} MB)`,
    );
  } finally {
    report.close();
    await relay.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
