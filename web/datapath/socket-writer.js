// A plain WebSocket as the small part of a WritableStreamDefaultWriter
// the data path's send uses (`ready`, `write`), with backpressure.
//
// A sending page dials its transit relay with the plain WebSocket
// (core/transitnet/connect_js.go), whose send() queues without limit and
// says so only through bufferedAmount. So, as core/transitnet/wsconn_js.go
// does for Go's writes, `ready` waits while more than HIGH bytes are
// queued until fewer than LOW are: the browser fires no event when the
// queue drains, so it is polled. The marks are larger than Go's: a whole
// 1 MiB message per write, and the poll's timer (4 ms once nested) must
// never let the queue run dry at the relay's speed.
//
// send() copies the bytes into the browser's queue at once, so a write
// resolves as soon as it is queued and its buffer can be reused.
//
// The core reads the receiver's ack from the same socket meanwhile: its
// onmessage handler (wsconn_js.go) queues every message, so nothing is
// lost when the receiver acks and closes right after the last record.
export const HIGH = 8 << 20;
export const LOW = 2 << 20;
const POLL_MS = 1;
// MESSAGE is the most bytes put in one WebSocket message. Chromium copies
// each message into a buffer of its own; one over about 1 MiB is mapped
// fresh from the kernel every time, and its page faults made send() the
// sending thread's largest cost (perf). The relay joins messages, and the
// receiver never sees their boundaries.
const MESSAGE = 256 << 10;

const OPEN = 1;

/** SocketError carries the name the data path reports for a lost connection. */
class SocketError extends Error {
  constructor(message) {
    super(message);
    this.name = 'net';
  }
}

/**
 * socketWriter(ws) -> {ready, write(u8)} over an open WebSocket.
 * @param {WebSocket} ws
 */
export function socketWriter(ws) {
  const lost = () => new SocketError(`websocket closed while sending (state ${ws.readyState})`);
  const drained = () =>
    new Promise((resolve, reject) => {
      const poll = () => {
        if (ws.readyState !== OPEN) reject(lost());
        else if (ws.bufferedAmount <= LOW) resolve();
        else setTimeout(poll, POLL_MS);
      };
      poll();
    });
  return {
    get ready() {
      if (ws.readyState !== OPEN) return Promise.reject(lost());
      return ws.bufferedAmount <= HIGH ? Promise.resolve() : drained();
    },
    write(u8) {
      if (ws.readyState !== OPEN) return Promise.reject(lost());
      for (let at = 0; at < u8.length; at += MESSAGE) ws.send(u8.subarray(at, at + MESSAGE));
      return Promise.resolve();
    },
  };
}
