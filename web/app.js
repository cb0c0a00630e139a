// app.js: the wasmhole page. Everything it does goes through the JS API in
// wasmhole.js; the modules in app/ are only UI:
//
//   app/config.js      relay addresses (query, settings, config.json, origin)
//   app/settings.js    the "Relay settings" form
//   app/send.js        the Send card; app/selection.js what was chosen
//   app/receive.js     the Receive card; app/completion.js code completion
//   app/format.js      bytes, durations, progress, errors as sentences
//   app/qr.js          the receive link and its QR code
//   app/dom.js         small DOM helpers
import { Wasmhole } from './wasmhole.js';
import { loadConfig, clientOptions } from './app/config.js';
import { $ } from './app/dom.js';
import { explain } from './app/format.js';
import { setupSettings } from './app/settings.js';
import { setupSend } from './app/send.js';
import { setupReceive } from './app/receive.js';

export { cliCommand } from './app/config.js';

async function main() {
  const cfg = await loadConfig();
  let wh;
  try {
    wh = await Wasmhole.load({ client: clientOptions(cfg) });
  } catch (err) {
    const boot = $('boot');
    boot.textContent = `wasmhole could not start: ${explain(err)}`;
    boot.hidden = false;
    return;
  }
  window.wasmhole = wh; // for the console and the browser tests
  document.documentElement.dataset.ready = 'true';
  setupSettings(cfg);
  setupSend(wh, cfg);
  setupReceive(wh, cfg);
}

main();
