// The receive backlog in every engine (core/transitnet/backlog_js.go).
// Firefox and WebKit have no WebSocketStream, so a receiving page cannot
// slow the sender down: bytes that arrive faster than the sink stores them
// wait in memory. These tests receive from `wormhole send` (Python 0.12)
// through our relay on loopback, the fastest network there is, and print
// what waited (peak queue bytes) and the speed:
//
//   - a large file as a streamed download and into memory (a Blob) stays
//     under the default bound and arrives intact;
//   - a sink that is slower than the network makes the page report
//     "lagging", then, at a lowered bound, fail with "overrun": the sink is
//     aborted (no download passes for whole), the sender is not acked, and
//     the backlog never passed the bound.
//
// Chromium reads through WebSocketStream, so its backlog stays 0 and the
// slow sink slows the sender instead: printed beside the others.
// WASMHOLE_BACKLOG_MIB sets the large file's size (default 256).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { startRelay, CLI, randomFile, sha256File, tmpdir, need, stopCLIs } from './harness.mjs';
import { ENGINES, PROGRAMS, launchEngine } from './engines.mjs';

const MiB = 1 << 20;
const LARGE = Number(process.env.WASMHOLE_BACKLOG_MIB || 256) * MiB;
const DEFAULT_LIMIT = 512 * MiB; // core/transitnet.DefaultBacklogLimit
const SLOW_LIMIT = 32 * MiB;

let relay;
let work;
const files = {};

before(async () => {
  relay = await startRelay();
  work = await tmpdir();
});

after(async () => {
  stopCLIs();
  await relay?.stop();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

const pyArgs = () => ['--relay-url', relay.mailboxURL, '--transit-helper', `tcp:${relay.tcp}`];

async function file(name, size) {
  if (!files[name]) {
    const p = path.join(work, name);
    files[name] = { path: p, sum: await randomFile(p, size), size };
  }
  return files[name];
}

/**
 * In the page: loads a Wasmhole of its own (with receiveBacklog), receives
 * code into the sink `kind` ("download", "memory" or "slow") and keeps the
 * outcome in window.wasmholeBacklog, which poll() reads.
 */
function startReceive(b, code, kind, opts) {
  return b.eval(
    ([code, kind, opts]) => {
      const r = { state: 'running', peak: 0, got: 0, progress: 0, progressMax: 0, statuses: [], sinkSaw: [] };
      window.wasmholeBacklog = r;
      // Each step is recorded, with when it began, so that a receive
      // that stalls shows where (poll reports it).
      const t00 = performance.now();
      r.steps = [];
      const step = (name) => r.steps.push(`${name} at ${Math.round(performance.now() - t00)} ms`);
      run().catch((err) =>
        Object.assign(r, {
          state: 'failed',
          code: err.code,
          message: `${err.message}`,
          seconds: (performance.now() - t00) / 1000,
          path: 'none',
        }),
      );
      return true;

      async function run() {
        step('load');
        const { Wasmhole } = await import(new URL('web/wasmhole.js', document.baseURI).href);
        const wh = await Wasmhole.load({ client: opts.client, receiveBacklog: opts.limit, dataPath: opts.dataPath });
        window.wasmholeBacklogClient = wh; // for poll's report of a stall
        step('receive');
        const offer = await wh.receive(code);
        step('offer');
        let sink;
        if (kind === 'download') sink = await wh.downloadSink(offer.name, offer.size);
        else if (kind === 'memory') sink = wh.blobSink(offer.size);
        else {
          // A consumer slower than the network: one 256 KiB chunk per
          // opts.delay ms, as a slow disk would take them.
          const ch = new MessageChannel();
          ch.port1.onmessage = (e) => {
            const m = e.data;
            if (m.type !== 'chunk') r.sinkSaw.push(m.type);
            else r.got += m.data.byteLength;
            if (m.type === 'chunk') setTimeout(() => ch.port1.postMessage({ type: 'credit', n: 1 }), opts.delay);
            else if (m.type === 'end') ch.port1.postMessage({ type: 'done' });
          };
          sink = { kind: 'port', port: ch.port2, start: () => ch.port1.postMessage({ type: 'credit', n: 2 }) };
        }
        if (!sink) throw new Error(`no ${kind} sink in this browser`);
        // A worker that stopped, or answers nothing, must not keep the
        // receive's own outcome from being recorded.
        const ask = (fn, fallback) =>
          Promise.race([
            fn().catch((err) => `${fallback} (${err.message})`),
            new Promise((resolve) => setTimeout(() => resolve(`${fallback} (no answer)`), 5000)),
          ]);
        const peak = () => ask(async () => (await wh.backlog()).peak, 'unknown');
        // Which pipeline moved the bytes: the JS data path counts its receives.
        const path = () =>
          ask(async () => {
            const dp = (await wh.memory()).dataPath;
            if (!dp?.receives) return 'go pipeline';
            const ms = [...dp.workers.crypto, ...dp.workers.hash].map((w) => w.readyMs);
            return `js data path (workers ready after ${ms.join(', ')} ms)`;
          }, 'unknown');
        step('accept');
        const t0 = performance.now();
        offer
          .accept(sink, {
            onProgress: (got) => {
              r.progress++;
              r.progressMax = Math.max(r.progressMax, got);
            },
            onStatus: (s, ev) => r.statuses.push(s === 'lagging' ? `lagging ${ev.queued}` : s),
          })
          .then(async () => {
            r.seconds = (performance.now() - t0) / 1000;
            r.got = offer.size;
            r.peak = await peak();
            r.path = await path();
            if (sink.blob) {
              const blob = await sink.blob();
              const sum = new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()));
              r.sha256 = Array.from(sum, (x) => x.toString(16).padStart(2, '0')).join('');
            }
            r.state = 'done';
          })
          .catch(async (err) => {
            r.seconds = (performance.now() - t0) / 1000;
            r.peak = await peak();
            r.path = await path();
            Object.assign(r, { state: 'failed', code: err.code, message: err.message });
          });
      }
    },
    [code, kind, opts],
  );
}

// Waits for the receive to settle. A timeout says what the page had seen
// and what the sender printed, so a stalled transfer can be told from one
// that never began.
async function poll(b, ms, cli) {
  try {
    return await b.waitFor(
      () => {
        const r = window.wasmholeBacklog;
        return r && r.state !== 'running' && r;
      },
      null,
      ms,
    );
  } catch (err) {
    const r = await b.eval(() => window.wasmholeBacklog).catch((e) => `unreadable: ${e.message}`);
    // The worker's memory and the data path's workers: batches sent to
    // each and answered.
    const worker = await b
      .eval(() =>
        Promise.race([
          window.wasmholeBacklogClient.memory(),
          new Promise((resolve) => setTimeout(() => resolve('no answer'), 5000)),
        ]),
      )
      .catch((e) => `unreadable: ${e.message}`);
    const log = relay.log().slice(-4000);
    throw new Error(
      `${err.message}\npage: ${JSON.stringify(r)}\nworker: ${JSON.stringify(worker)}\nsender: ${cli.out}\nrelay log: ${log}`,
      {
        cause: err,
      },
    );
  }
}

const figures = (engine, what, f, r) =>
  `${engine}, ${what}: ${(f.size / MiB).toFixed(0)} MiB, ${r.state}${r.code ? ` (${r.code})` : ''} after ` +
  `${r.seconds.toFixed(1)} s, ${(r.got / MiB / r.seconds).toFixed(1)} MiB/s stored, ` +
  `peak backlog ${(r.peak / MiB).toFixed(1)} MiB, ${r.progress} progress events, ${r.path}`;

for (const engine of ENGINES) {
  describe(engine, () => {
    let b;
    const ready = (t) => need(t, ...PROGRAMS[engine], 'wormhole') && b;
    const client = () => ({
      mailboxURL: relay.mailboxURL,
      relays: [{ websocket: [relay.transitURL], tcp: [relay.tcp] }],
    });

    before(async () => {
      if (!PROGRAMS[engine].every((p) => need({ skip() {} }, p))) return;
      b = await launchEngine(engine);
    });
    after(async () => {
      await b?.close();
    });

    for (const kind of ['download', 'memory']) {
      test(`a large receive (${kind === 'download' ? 'streamed download' : 'into memory'}) stays under the bound`, async (t) => {
        if (!ready(t)) return;
        // In memory at most the page's own limit (Wasmhole.BLOB_LIMIT).
        const f = await file(`large-${kind}.bin`, kind === 'memory' ? Math.min(LARGE, 192 * MiB) : LARGE);
        await b.goto(relay.pageURL);
        const cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', f.path]);
        try {
          await startReceive(b, await cli.code(), kind, { client: client() });
          const r = await poll(b, 300000, cli);
          t.diagnostic(figures(engine, kind, f, r));
          assert.equal(r.state, 'done', `${r.code}: ${r.message}`);
          assert.ok(r.peak <= DEFAULT_LIMIT, `backlog ${r.peak} over ${DEFAULT_LIMIT}`);
          // The progress bar moves: the data path counts a chunk before a
          // port sink takes it by transfer (after, its length reads 0).
          assert.ok(
            r.progress >= 5 && r.progressMax >= f.size / 2,
            `progress: ${r.progress} events, ${r.progressMax} bytes`,
          );
          if (kind === 'memory') assert.equal(r.sha256, f.sum);
          else assert.equal(await sha256File(await b.download(path.basename(f.path), { minSize: f.size })), f.sum);
          assert.equal((await cli.wait(60000)).code, 0, cli.out);
        } finally {
          cli.stop();
          for (const d of await fsp.readdir(b.downloads)) await fsp.rm(path.join(b.downloads, d), { force: true });
        }
      });
    }

    test('the consumer: the Go pipeline against the JS data path, same file, same run', async (t) => {
      if (!ready(t)) return;
      // Printed, not asserted: which path stores faster, so the backlog
      // grows slower. Each round receives the same file into memory.
      const f = await file('compare.bin', 64 * MiB);
      for (const dataPath of ['go', 'js', 'go', 'js']) {
        await b.goto(relay.pageURL);
        const cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', f.path]);
        try {
          await startReceive(b, await cli.code(), 'memory', { client: client(), dataPath });
          const r = await poll(b, 180000, cli);
          t.diagnostic(figures(engine, `${dataPath} pipeline, into memory`, f, r));
          assert.equal(r.state, 'done', `${r.code}: ${r.message}`);
          assert.equal(r.sha256, f.sum);
        } finally {
          cli.stop();
        }
      }
    });

    test('a sink slower than the network: "lagging", then a clear "overrun" at the bound', async (t) => {
      if (!ready(t)) return;
      // Chromium's backpressure slows the sender to the sink: a smaller
      // file, still larger than the bound, completes there.
      const f = await file(`slow-${engine}.bin`, engine === 'chromium' ? 40 * MiB : 128 * MiB);
      await b.goto(relay.pageURL);
      const cli = new CLI('wormhole', [...pyArgs(), 'send', '--no-listen', '--hide-progress', f.path]);
      try {
        await startReceive(b, await cli.code(), 'slow', { client: client(), limit: SLOW_LIMIT, delay: 40 });
        const r = await poll(b, 180000, cli);
        t.diagnostic(figures(engine, `slow sink, bound ${SLOW_LIMIT / MiB} MiB`, f, r));
        t.diagnostic(
          `${engine}: statuses ${r.statuses.join(', ')}; the sink saw ${r.sinkSaw.join(', ') || 'chunks only'}`,
        );
        // The backlog never passes the bound (plus the message that hit it,
        // which is dropped with the rest).
        assert.ok(r.peak <= SLOW_LIMIT, `backlog ${r.peak} over ${SLOW_LIMIT}`);
        // Python 0.12 may wait for the ack until stopped (its file sender
        // is never told the connection is gone), so it gets a while to
        // exit on its own, then is killed: either way it must not claim
        // success.
        const sender = await cli.wait(engine === 'chromium' ? 120000 : 15000);
        if (engine === 'chromium') {
          assert.equal(r.state, 'done', `${r.code}: ${r.message}`);
          assert.equal(r.peak, 0);
          assert.equal(sender.code, 0, cli.out);
          return;
        }
        assert.equal(r.state, 'failed');
        assert.equal(r.code, 'overrun', r.message);
        assert.match(r.message, /faster than it could be stored/);
        assert.ok(
          r.statuses.some((s) => s.startsWith('lagging')),
          `no lagging status: ${r.statuses}`,
        );
        // The sink was aborted, never ended: nothing passes for whole.
        assert.deepEqual(r.sinkSaw, ['abort']);
        // The sender was not acked: it failed, or was stopped waiting.
        assert.notEqual(sender.code, 0, cli.out);
        assert.doesNotMatch(cli.out, /Transfer complete|Confirmation received/);
      } finally {
        cli.stop();
      }
    });
  });
}
