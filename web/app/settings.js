// settings.js: the "Relay settings" form, saved in localStorage.
import { SETTINGS_KEY } from './config.js';
import { $ } from './dom.js';

export function setupSettings(cfg) {
  $('set-mailbox').value = cfg.saved.mailbox || '';
  $('set-mailbox').placeholder = cfg.mailbox;
  $('set-transit').value = cfg.saved.transit || '';
  $('set-transit').placeholder = cfg.transit;
  $('set-transit-tcp').value = cfg.saved.transitTCP || '';
  $('set-transit-tcp').placeholder = cfg.transitTCP || 'none';
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
