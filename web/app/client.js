// @ts-check
// client.js: the wasm client as the page sees it. The page is live from
// its first paint while the worker fetches, checks and starts the wasm;
// an action taken meanwhile waits here, with a visible "Starting…", and
// runs as soon as the client is ready. The state is also on <html
// data-client="starting|ready|failed"> for styles and tests.
import { Wasmhole } from '../wasmhole.js';
import { loadConfig, clientOptions } from './config.js';
import { setStatus } from './dom.js';
import { explain } from './format.js';

export class Client {
  constructor() {
    /** @type {Wasmhole|null} the client once ready */
    this.wh = null;
    this.state = 'starting';
    // The worker starts at once; config.json is read meanwhile.
    this.config = loadConfig();
    this.ready = Promise.all([Wasmhole.load(), this.config]).then(
      ([wh, cfg]) => {
        Object.assign(wh.client, clientOptions(cfg));
        this.wh = wh;
        this._set('ready');
        return wh;
      },
      (err) => {
        this._set('failed');
        throw err;
      },
    );
    this.ready.catch(() => {});
    this._set('starting');
  }

  _set(state) {
    this.state = state;
    document.documentElement.dataset.client = state;
  }

  /**
   * Resolves with the client; while it is still starting, says so in
   * statusEl. Rejects (with the reason shown in statusEl) if it failed.
   * @param {HTMLElement} statusEl
   */
  async whenReady(statusEl) {
    if (this.wh) return this.wh;
    setStatus(statusEl, 'info', 'Starting… this runs as soon as wasmhole is ready.');
    try {
      return await this.ready;
    } catch (err) {
      setStatus(statusEl, 'error', `wasmhole could not start: ${explain(err)}`);
      throw err;
    }
  }
}
