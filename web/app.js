// @ts-check
// app.js: the wasmhole page. Everything it does goes through the JS API in
// wasmhole.js; the modules in app/ are only UI:
//
//   app/client.js      the wasm client: starting, ready or failed
//   app/config.js      relay addresses (query, settings, config.json, origin)
//   app/settings.js    the "Relay settings" form
//   app/send.js        the Send card; app/selection.js what was chosen;
//                      app/reserve.js the code allocated before Send
//   app/receive.js     the Receive card; app/completion.js code completion
//   app/format.js      bytes, durations, progress, errors as sentences
//   app/qr.js          the receive link and its QR code
//   app/dom.js         small DOM helpers
//
// The page is live from its first paint: the handlers are attached before
// the wasm has loaded, and what the user does meanwhile waits for it (see
// client.js; early.js holds a form submitted before this module ran).
// Performance marks for the benchmark: wasmhole-interactive (handlers
// attached), wasmhole-ready (wasm running), wasmhole-send and wasmhole-code
// (Send pressed, code shown).
import { Client } from './app/client.js';
import { $ } from './app/dom.js';
import { explain } from './app/format.js';
import { Reserver } from './app/reserve.js';
import { setupSettings } from './app/settings.js';
import { setupSend } from './app/send.js';
import { setupReceive } from './app/receive.js';

export { cliCommand } from './app/config.js';

const client = new Client();
setupSettings(client.config);
setupSend(client, new Reserver(client));
setupReceive(client);

// Replay what was submitted before the handlers were there.
const early = self.wasmholeEarly || { submits: [], live: false };
early.live = true;
for (const id of early.submits.splice(0)) {
  const form = /** @type {HTMLFormElement|null} */ ($(id));
  if (form) form.requestSubmit();
}
document.documentElement.dataset.interactive = 'true';
performance.mark('wasmhole-interactive');

client.ready.then(
  (wh) => {
    window.wasmhole = wh; // for the console and the browser tests
    document.documentElement.dataset.ready = 'true';
    performance.mark('wasmhole-ready');
  },
  (err) => {
    const boot = $('boot');
    boot.textContent = `wasmhole could not start: ${explain(err)}`;
    boot.hidden = false;
  },
);
