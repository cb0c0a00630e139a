// The Worker's /transit: bridged to our native relay's TCP port (where stock
// CLIs meet WebSocket clients), or, without an upstream, pairing WebSocket
// clients itself. Files are checked by sha256; the Worker's usage log shows
// which transfers went through the bridge.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import {
  startWorker,
  startNativeRelay,
  transitUsage,
  waitUsage,
  goBuild,
  need,
  Proc,
  WS,
  tmpdir,
  randomFile,
  sha256File,
} from './harness.mjs';

const token = 'ab'.repeat(32);
const line = (side) => new TextEncoder().encode(`please relay ${token} for side ${side.repeat(16)}`);
const text = (m) => new TextDecoder().decode(m.data);

/** A raw TCP transit client: sends its line, collects what it reads. */
function tcpClient(addr, side) {
  const [host, port] = addr.split(':');
  const s = net.connect(Number(port), host);
  const c = { got: '', socket: s };
  s.on('connect', () => s.write(`please relay ${token} for side ${side.repeat(16)}\n`));
  s.on('data', (d) => {
    c.got += d.toString();
  });
  c.closed = new Promise((resolve) => s.on('close', resolve));
  c.until = async (want, ms = 10000) => {
    const end = Date.now() + ms;
    while (!c.got.includes(want)) {
      if (Date.now() > end) throw new Error(`TCP client got ${JSON.stringify(c.got)}, waiting for ${want}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return c;
}

describe('bridge mode (TRANSIT_UPSTREAM = our native relay)', () => {
  let relay;
  let worker;
  let work;

  before(async () => {
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

  test('a WebSocket client meets a TCP client at the upstream relay', async () => {
    const ws = await WS.open(worker.transitURL);
    ws.send(line('1')); // no newline: the bridge adds it
    const tcp = tcpClient(relay.tcp, '2');
    try {
      assert.equal(text(await ws.next()), 'ok\n');
      await tcp.until('ok\n');
      ws.send(new TextEncoder().encode('from-ws'));
      tcp.socket.write('from-tcp-'.repeat(10000)); // bigger than one read
      await tcp.until('from-ws');
      let got = '';
      while (got.length < 90000) {
        const m = await ws.next();
        assert.equal(m.text, false, 'transit frames must be binary');
        got += text(m);
      }
      assert.equal(got, 'from-tcp-'.repeat(10000));
      // Closing one side closes the other.
      ws.close();
      await tcp.closed;
    } finally {
      ws.close();
      tcp.socket.destroy();
    }
  });

  test('a bad handshake is answered by the Worker itself', async () => {
    const ws = await WS.open(worker.transitURL);
    ws.send(new TextEncoder().encode('please relay not-a-token\n'));
    assert.equal(text(await ws.next()), 'bad handshake\n');
    await ws.waitClosed();
    const text1 = await WS.open(worker.transitURL);
    text1.send(`please relay ${token} for side ${'3'.repeat(16)}`); // TEXT: refused
    assert.equal((await text1.waitClosed()).code, 1003);
  });

  test('Python sends a file to Python over the TCP relay, mailbox on the Worker', async (t) => {
    if (!need(t, 'wormhole')) return;
    const src = path.join(work, 'py-py.bin');
    const sum = await randomFile(src, 2 << 20);
    const out = path.join(work, 'py-py.out');
    const py = ['--relay-url', worker.mailboxURL, '--transit-helper', `tcp:${relay.tcp}`];
    const send = new Proc('wormhole', [...py, 'send', '--no-listen', '--hide-progress', src]);
    try {
      const code = await send.code();
      const recv = new Proc('wormhole', [
        ...py,
        'receive',
        '--no-listen',
        '--accept-file',
        '--hide-progress',
        '-o',
        out,
        code,
      ]);
      const r = await recv.wait(120000);
      assert.equal(r.code, 0, recv.out);
      assert.match(recv.out, new RegExp(`relay:tcp:${relay.tcp.replace(/\./g, '\\.')}`), recv.out);
      assert.equal(await sha256File(out), sum);
      assert.equal((await send.wait(30000)).code, 0, send.out);
    } finally {
      send.stop();
    }
  });

  // The bridged path: our Go client offers only the Worker's /transit (and
  // the Python peer's TCP relay hint comes 2 s later, a lower priority), so
  // the bytes go WebSocket -> Worker -> native relay -> Python.
  for (const dir of ['Python sends, Go receives', 'Go sends, Python receives']) {
    test(`${dir} a file over the bridged /transit`, async (t) => {
      if (!need(t, 'wormhole')) return;
      const gopeer = await goBuild('./relay/worker/internal/gopeer');
      const size = 3 << 20;
      const src = path.join(work, `bridge-${dir.length}.bin`);
      const sum = await randomFile(src, size);
      const out = path.join(work, `bridge-${dir.length}.out`);
      const py = ['--relay-url', worker.mailboxURL, '--transit-helper', `tcp:${relay.tcp}`];
      const go = ['-mailbox', worker.mailboxURL, '-transit', worker.transitURL];
      const usageBefore = transitUsage(worker).length;
      let sender;
      let receiver;
      if (dir.startsWith('Python')) {
        sender = new Proc('wormhole', [...py, 'send', '--no-listen', '--hide-progress', src]);
        const code = await sender.code();
        receiver = new Proc(gopeer, ['receive', ...go, '-o', out, code]);
      } else {
        sender = new Proc(gopeer, ['send', ...go, src]);
        const code = await sender.code();
        receiver = new Proc('wormhole', [
          ...py,
          'receive',
          '--no-listen',
          '--accept-file',
          '--hide-progress',
          '-o',
          out,
          code,
        ]);
      }
      try {
        const r = await receiver.wait(180000);
        assert.equal(r.code, 0, `receiver:\n${receiver.out}\nsender:\n${sender.out}`);
        assert.equal((await sender.wait(60000)).code, 0, sender.out);
        assert.equal(await sha256File(out), sum);
        const goOut = dir.startsWith('Python') ? receiver.out : sender.out;
        assert.match(goOut, /transit connected.*relay ws:\/\/127\.0\.0\.1/, goOut);
        const bridged = await waitUsage(worker, usageBefore, (u) => u.mood === 'bridged' && u.bytes >= size);
        assert.equal(bridged.length, 1, JSON.stringify(transitUsage(worker).slice(usageBefore)));
      } finally {
        sender.stop();
        receiver.stop();
      }
    });
  }
});

describe('pairing mode (no upstream)', () => {
  let worker;
  let work;

  before(async () => {
    worker = await startWorker({ vars: { TRANSIT_UNPAIRED_TIMEOUT_MS: '60000' } });
    work = await tmpdir();
  });

  after(async () => {
    await worker?.stop();
    if (worker) await fsp.rm(worker.persist, { recursive: true, force: true });
    if (work) await fsp.rm(work, { recursive: true, force: true });
  });

  test('two WebSocket clients are paired by token and relayed', async () => {
    const skip = transitUsage(worker).length;
    const a = await WS.open(worker.transitURL);
    const b = await WS.open(worker.transitURL);
    try {
      a.send(line('1'));
      b.send(new TextEncoder().encode(`please relay ${token} for side ${'2'.repeat(16)}\n`));
      assert.equal(text(await a.next()), 'ok\n');
      assert.equal(text(await b.next()), 'ok\n');
      const big = new Uint8Array(300000).map((_, i) => i % 251);
      a.send(big);
      let n = 0;
      while (n < big.length) {
        const m = await b.next();
        assert.equal(m.text, false);
        for (const x of m.data) assert.equal(x, big[n] ?? -1, `byte ${n++}`);
      }
      b.send(new TextEncoder().encode('back'));
      assert.equal(text(await a.next()), 'back');
      a.close();
      await b.waitClosed();
    } finally {
      a.close();
      b.close();
    }
    const usage = await waitUsage(worker, skip, (u) => u.token === token.slice(0, 8), 2);
    assert.deepEqual(usage.map((u) => u.mood).sort(), ['happy', 'jilted']);
  });

  test('impatient and bad clients are refused like the reference relay', async () => {
    const ws = await WS.open(worker.transitURL);
    ws.send(line('4'));
    ws.send(new TextEncoder().encode('too early'));
    assert.equal(text(await ws.next()), 'impatient\n');
    await ws.waitClosed();
    const bad = await WS.open(worker.transitURL);
    bad.send(new TextEncoder().encode('hello\n'));
    assert.equal(text(await bad.next()), 'bad handshake\n');
    await bad.waitClosed();
  });

  test('Go sends a file to Go through the Worker alone (mailbox and transit)', async () => {
    const gopeer = await goBuild('./relay/worker/internal/gopeer');
    const size = 2 << 20;
    const src = path.join(work, 'go-go.bin');
    const sum = await randomFile(src, size);
    const out = path.join(work, 'go-go.out');
    const go = ['-mailbox', worker.mailboxURL, '-transit', worker.transitURL];
    const skip = transitUsage(worker).length;
    const sender = new Proc(gopeer, ['send', ...go, src]);
    try {
      const code = await sender.code();
      const receiver = new Proc(gopeer, ['receive', ...go, '-o', out, code]);
      const r = await receiver.wait(120000);
      assert.equal(r.code, 0, `receiver:\n${receiver.out}\nsender:\n${sender.out}`);
      assert.equal((await sender.wait(60000)).code, 0, sender.out);
      assert.equal(await sha256File(out), sum);
      const paired = await waitUsage(worker, skip, (u) => u.mood === 'happy' && u.bytes >= size);
      assert.equal(paired.length, 1, JSON.stringify(transitUsage(worker).slice(skip)));
    } finally {
      sender.stop();
    }
  });
});

describe('bridge mode with the upstream relay down', () => {
  let worker;

  before(async () => {
    const srv = net.createServer();
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    const { port } = srv.address();
    await new Promise((r) => srv.close(r)); // nothing listens there now
    worker = await startWorker({ upstream: `127.0.0.1:${port}` });
  });

  after(async () => {
    await worker?.stop();
    if (worker) await fsp.rm(worker.persist, { recursive: true, force: true });
  });

  test('the client is closed instead of left waiting', async () => {
    const ws = await WS.open(worker.transitURL);
    ws.send(line('5'));
    const m = await ws.next(20000);
    assert.equal(m, null, 'no "ok" without an upstream relay');
    await ws.waitClosed();
  });
});
