// settings.js: the "Relay settings" form, saved in localStorage.
import { SETTINGS_KEY } from './config.js';
import { $ } from './dom.js';

/** @param {Promise<import('./config.js').Config>} config */
export function setupSettings(config) {
  // The form works at once; the current addresses fill in when known,
  // without overwriting what the user typed meanwhile.
  config.then((cfg) => {
    const fill = (id, saved, shown) => {
      if (!$(id).value) $(id).value = saved || '';
      $(id).placeholder = shown;
    };
    fill('set-mailbox', cfg.saved.mailbox, cfg.mailbox);
    fill('set-transit', cfg.saved.transit, cfg.transit);
    fill('set-transit-tcp', cfg.saved.transitTCP, cfg.transitTCP || 'none');
  }).catch(() => {});
  $('settings-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const v = { mailbox: $('set-mailbox').value.trim(), transit: $('set-transit').value.trim(),
      transitTCP: $('set-transit-tcp').value.trim() };
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(v));
    location.reload();
  });
  $('settings-reset').addEventListener('click', () => {
    localStorage.removeItem(SETTINGS_KEY);
    location.reload();
  });
}
