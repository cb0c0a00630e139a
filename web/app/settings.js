// @ts-check
// settings.js: the "Relay settings" form, saved in localStorage.
import { SETTINGS_KEY } from './config.js';
import { $, $input, $form } from './dom.js';

/** @param {Promise<import('./config.js').Config>} config */
export function setupSettings(config) {
  // The form works at once; the current addresses fill in when known,
  // without overwriting what the user typed meanwhile.
  config
    .then((cfg) => {
      const fill = (/** @type {string} */ id, /** @type {string} */ saved, /** @type {string} */ shown) => {
        if (!$input(id).value) $input(id).value = saved || '';
        $input(id).placeholder = shown;
      };
      fill('set-mailbox', cfg.saved.mailbox, cfg.mailbox);
      fill('set-transit', cfg.saved.transit, cfg.transit);
      fill('set-transit-tcp', cfg.saved.transitTCP, cfg.transitTCP || 'none');
    })
    .catch(() => {});
  $form('settings-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const v = {
      mailbox: $input('set-mailbox').value.trim(),
      transit: $input('set-transit').value.trim(),
      transitTCP: $input('set-transit-tcp').value.trim(),
    };
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(v));
    location.reload();
  });
  $('settings-reset').addEventListener('click', () => {
    localStorage.removeItem(SETTINGS_KEY);
    location.reload();
  });
}
