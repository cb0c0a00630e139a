// The Worker's mailbox (/v1): the Go mailbox server in a Durable Object,
// with its state in Durable Object storage.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import { startWorker, tmpdir, need, Proc, WS, sleep } from './harness.mjs';

const APP = 'lothar.com/wormhole/text-or-file-xfer';
let worker;

before(async () => {
  worker = await startWorker();
});

after(async () => {
  await worker?.stop();
  if (worker) await fsp.rm(worker.persist, { recursive: true, force: true });
});

test('GET / answers like the reference server; /v1 wants a WebSocket', async () => {
  const res = await fetch(`http://127.0.0.1:${worker.port}/`);
  assert.equal(await res.text(), 'Wormhole Relay\n');
  const v1 = await fetch(`http://127.0.0.1:${worker.port}/v1`);
  assert.equal(v1.status, 426);
  assert.equal((await fetch(`http://127.0.0.1:${worker.port}/nope`)).status, 404);
});

test('mailbox frames are TEXT; binary commands are accepted; big frames get an error', async () => {
  const ws = await WS.open(worker.mailboxURL);
  try {
    const welcome = await ws.next();
    assert.equal(welcome.text, true, 'welcome must be a TEXT frame');
    assert.equal(JSON.parse(welcome.data).type, 'welcome');
    // A binary frame is decoded too; every reply is TEXT.
    ws.send(new TextEncoder().encode(JSON.stringify({ type: 'ping', ping: 7, id: 'a1b2' })));
    const ack = JSON.parse((await ws.next()).data);
    assert.deepEqual([ack.type, ack.id], ['ack', 'a1b2']);
    const pong = await ws.expect('pong');
    assert.equal(pong.pong, 7);
    assert.equal(typeof pong.server_tx, 'number');
    // Over the 1 MiB frame limit: an error, and the connection stays usable.
    ws.send(JSON.stringify({ type: 'ping', ping: 1, pad: 'x'.repeat(1 << 20) }));
    const err = JSON.parse((await ws.next()).data);
    assert.equal(err.type, 'error');
    assert.match(err.error, /too large/);
    ws.send({ type: 'ping', ping: 8 });
    assert.equal((await ws.expect('pong')).pong, 8);
  } finally {
    ws.close();
  }
});

test('two clients meet in a mailbox (allocate, claim, open, add, echo)', async () => {
  const a = await WS.open(worker.mailboxURL);
  const b = await WS.open(worker.mailboxURL);
  try {
    a.send({ type: 'bind', appid: APP, side: 'side-a' });
    b.send({ type: 'bind', appid: APP, side: 'side-b' });
    a.send({ type: 'allocate' });
    const { nameplate } = await a.expect('allocated');
    a.send({ type: 'claim', nameplate });
    const { mailbox } = await a.expect('claimed');
    a.send({ type: 'open', mailbox });
    a.send({ type: 'add', phase: 'pake', body: 'aa', id: '0001' });
    const echo = await a.expect('message');
    assert.deepEqual([echo.side, echo.phase, echo.body, echo.id], ['side-a', 'pake', 'aa', '0001']);
    b.send({ type: 'claim', nameplate });
    assert.equal((await b.expect('claimed')).mailbox, mailbox);
    b.send({ type: 'open', mailbox });
    const replay = await b.expect('message');
    assert.deepEqual([replay.side, replay.body], ['side-a', 'aa']);
    // A third side is turned away.
    const c = await WS.open(worker.mailboxURL);
    c.send({ type: 'bind', appid: APP, side: 'side-c' });
    c.send({ type: 'claim', nameplate });
    await assert.rejects(c.expect('claimed'), /crowded/);
    c.close();
    for (const [w, side] of [
      [a, 'a'],
      [b, 'b'],
    ]) {
      w.send({ type: 'release' });
      w.send({ type: 'close', mood: 'happy', id: side });
      await w.expect('closed');
    }
  } finally {
    a.close();
    b.close();
  }
});

test('Python CLI sends text through the Worker', async (t) => {
  if (!need(t, 'wormhole')) return;
  const text = `hello through the worker ✓ ${Date.now()}`;
  const send = new Proc('wormhole', ['--relay-url', worker.mailboxURL, 'send', '--text', text]);
  try {
    const code = await send.code();
    const recv = new Proc('wormhole', ['--relay-url', worker.mailboxURL, 'receive', code]);
    const r = await recv.wait(60000);
    assert.equal(r.code, 0, recv.out);
    assert.ok(recv.out.includes(text), recv.out);
    assert.equal((await send.wait(30000)).code, 0, send.out);
  } finally {
    send.stop();
  }
});

// Persistence: the Durable Object's state is in its storage, so a relay
// that dies between two commands (here: wrangler dev killed with SIGKILL
// and started again on the same --persist-to folder) still knows the
// nameplate, the mailbox and its messages.
test('mailbox state survives a killed and restarted wrangler dev', async () => {
  const persist = await tmpdir('wasmhole-worker-state-');
  let w = await startWorker({ persist });
  try {
    const a = await WS.open(w.mailboxURL);
    a.send({ type: 'bind', appid: APP, side: 'side-a' });
    a.send({ type: 'allocate' });
    const { nameplate } = await a.expect('allocated');
    a.send({ type: 'claim', nameplate });
    const { mailbox } = await a.expect('claimed');
    a.send({ type: 'open', mailbox });
    a.send({ type: 'add', phase: 'pake', body: 'c0ffee', id: '0001' });
    await a.expect('message'); // the echo: the add is durable now
    const port = w.port;
    await w.kill();
    await a.waitClosed();

    w = await startWorker({ persist, port });
    const b = await WS.open(w.mailboxURL);
    b.send({ type: 'bind', appid: APP, side: 'side-b' });
    b.send({ type: 'claim', nameplate });
    assert.equal((await b.expect('claimed')).mailbox, mailbox, 'the nameplate lost its mailbox');
    b.send({ type: 'open', mailbox });
    const m = await b.expect('message');
    assert.deepEqual([m.side, m.phase, m.body], ['side-a', 'pake', 'c0ffee']);
    b.close();
  } finally {
    await w.stop();
    await fsp.rm(persist, { recursive: true, force: true });
  }
});

// The control for the test above: without the old storage the same claim
// gets a new mailbox, so that test can tell persistence from luck.
test('a fresh storage folder does not know the old nameplate', async () => {
  const persist = await tmpdir('wasmhole-worker-state-');
  let w = await startWorker({ persist });
  let fresh;
  try {
    const a = await WS.open(w.mailboxURL);
    a.send({ type: 'bind', appid: APP, side: 'side-a' });
    a.send({ type: 'allocate' });
    const { nameplate } = await a.expect('allocated');
    a.send({ type: 'claim', nameplate });
    const { mailbox } = await a.expect('claimed');
    const port = w.port;
    await w.kill();
    fresh = await tmpdir('wasmhole-worker-state-');
    w = await startWorker({ persist: fresh, port });
    const b = await WS.open(w.mailboxURL);
    b.send({ type: 'bind', appid: APP, side: 'side-b' });
    b.send({ type: 'claim', nameplate });
    assert.notEqual((await b.expect('claimed')).mailbox, mailbox);
    b.close();
  } finally {
    await w.stop();
    await fsp.rm(persist, { recursive: true, force: true });
    if (fresh) await fsp.rm(fresh, { recursive: true, force: true });
  }
});

// The acceptance version: the stock CLI allocates, the relay is killed
// before the receiver claims, and the transfer still completes (the sender
// reconnects, re-claims and re-opens; the receiver finds the mailbox).
test('Python text transfer completes across a relay restart between allocate and claim', async (t) => {
  if (!need(t, 'wormhole')) return;
  const persist = await tmpdir('wasmhole-worker-state-');
  let w = await startWorker({ persist });
  const text = `survives restarts ${Date.now()}`;
  const send = new Proc('wormhole', ['--relay-url', w.mailboxURL, 'send', '--text', text]);
  try {
    const code = await send.code();
    // The sender has its nameplate and has posted its PAKE message.
    await sleep(500);
    const port = w.port;
    await w.kill();
    w = await startWorker({ persist, port });
    const recv = new Proc('wormhole', ['--relay-url', w.mailboxURL, 'receive', code]);
    const r = await recv.wait(120000);
    assert.equal(r.code, 0, `receiver:\n${recv.out}\nsender:\n${send.out}`);
    assert.ok(recv.out.includes(text), recv.out);
    assert.equal((await send.wait(60000)).code, 0, send.out);
  } finally {
    send.stop();
    await w.stop();
    await fsp.rm(persist, { recursive: true, force: true });
  }
});

test('per-address limits refuse a client over them with a welcome error', async () => {
  const w = await startWorker({ vars: { PER_IP_CONNS: '1', PER_IP_LIMIT_LOOPBACK: 'true' } });
  try {
    const first = await WS.open(w.mailboxURL);
    assert.equal((await first.expect('welcome')).welcome.error, undefined);
    const second = await WS.open(w.mailboxURL);
    const refused = await second.expect('welcome');
    assert.match(refused.welcome.error, /too many connections/);
    assert.equal((await second.waitClosed()).code, 1008);
    // The first one still works, and its slot frees when it leaves.
    first.send({ type: 'ping', ping: 3 });
    assert.equal((await first.expect('pong')).pong, 3);
    first.close();
    await first.waitClosed();
    let admitted = false;
    for (let i = 0; i < 50 && !admitted; i++) {
      const again = await WS.open(w.mailboxURL);
      admitted = (await again.expect('welcome')).welcome.error === undefined;
      again.close();
      if (!admitted) await sleep(100);
    }
    assert.ok(admitted, 'the slot was not released');
  } finally {
    await w.stop();
    await fsp.rm(w.persist, { recursive: true, force: true });
  }
});
