// @ts-check
// reserve.js: the code before Send. While the user is still choosing what
// to send, a wormhole is opened and a nameplate allocated, so the code is
// on screen the moment they press Send instead of one mailbox round trip
// and a PAKE later. A reservation not used within IDLE_MS, or when the
// page is hidden, is released (the nameplate freed, mood "lonely"); the
// next sign of intent makes a new one.
const IDLE_MS = 5 * 60 * 1000;

export class Reserver {
  /** @param {import('./client.js').Client} client */
  constructor(client) {
    this.client = client;
    /** @type {Promise<import('../wasmhole.js').Wormhole|null>|null} */
    this.pending = null;
    this.timer = 0;
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') this.release();
    });
    window.addEventListener('pagehide', () => this.release());
  }

  /** The user shows they will send: reserve a code unless one is held. */
  want() {
    if (this.pending || this.client.state === 'failed') return;
    this.pending = (async () => {
      const wh = await this.client.ready;
      const w = await wh.open({ forSend: true });
      await w.allocateCode();
      return w;
    })().catch(() => null); // a send without it allocates as before
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.release(), IDLE_MS);
  }

  /**
   * Hands the reservation (a Wormhole with its code, or null) to a send,
   * which takes it over.
   * @returns {Promise<import('../wasmhole.js').Wormhole|null>}
   */
  take() {
    const p = this.pending || Promise.resolve(null);
    this.pending = null;
    clearTimeout(this.timer);
    return p;
  }

  /** Frees the nameplate of an unused reservation. */
  release() {
    const p = this.take();
    p.then((w) => w && w.close('lonely')).catch(() => {});
  }
}
