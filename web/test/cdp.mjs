// A minimal DevTools protocol client over Chromium's --remote-debugging-pipe
// (fd 3 in, fd 4 out, NUL-separated JSON), for the benchmark's untimed
// memory pass: it attaches to a page and, recursively, to its workers, and
// uses nothing but Target and Runtime (no Network domain, which copies
// every WebSocket frame).
export class CDP {
  constructor(input, output) {
    this.input = input;
    this.seq = 0;
    this.pending = new Map();
    this.sessions = new Set();
    this.urls = new Map(); // session -> its target's URL
    let buf = '';
    output.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\0')) >= 0) {
        const msg = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        this.onMessage(msg);
      }
    });
  }

  onMessage(m) {
    if (m.id !== undefined) {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (p) m.error ? p.reject(new Error(JSON.stringify(m.error))) : p.resolve(m.result);
      return;
    }
    if (m.method === 'Target.attachedToTarget') {
      const s = m.params.sessionId;
      this.sessions.add(s);
      this.urls.set(s, m.params.targetInfo.url.split('/').pop());
      // Workers started by workers (the crypto workers) attach too.
      this.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: true }, s).catch(
        () => {},
      );
    } else if (m.method === 'Target.detachedFromTarget') {
      this.sessions.delete(m.params.sessionId);
    }
  }

  send(method, params = {}, sessionId = undefined) {
    const id = ++this.seq;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.input.write(`${JSON.stringify(msg)}\0`);
    });
  }

  /** Opens url in a new page; returns a function listing the live sessions (page and workers). */
  async openPage(url) {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    this.sessions.add(sessionId);
    await this.send(
      'Target.setAutoAttach',
      { autoAttach: true, waitForDebuggerOnStart: false, flatten: true },
      sessionId,
    );
    await this.send('Page.navigate', { url }, sessionId);
    return () => [...this.sessions];
  }
}
