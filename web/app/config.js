// config.js: where the relays are. The page's relay addresses come from the
// URL query, the saved settings, config.json and the page's own origin, in
// that order; this module also turns them into client options and into the
// command line the other person types.

export const CLI_DEFAULT_MAILBOX = 'ws://relay.magic-wormhole.io:4000/v1';
export const SETTINGS_KEY = 'wasmhole.relays';

// Relay addresses: URL query (?mailbox=&transit=&transit-tcp=) over saved
// settings over config.json (next to index.html) over the page's own origin.
export async function loadConfig() {
  let file = {};
  try {
    const res = await fetch(new URL('config.json', document.baseURI), { cache: 'no-store' });
    if (res.ok) file = await res.json();
  } catch { /* no config.json: same-origin defaults */ }
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) || '{}') || {}; } catch { saved = {}; }
  const q = new URLSearchParams(location.search);
  const pick = (key, param) => q.get(param) || saved[key] || file[key] || '';
  const wsOrigin = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host;
  const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
  return {
    mailbox: pick('mailbox', 'mailbox') || `${wsOrigin}/v1`,
    transit: pick('transit', 'transit') || `${wsOrigin}/transit`,
    // "none" turns the TCP address off (a relay without a TCP port).
    transitTCP: (pick('transitTCP', 'transit-tcp') || `${host}:4001`).replace(/^none$/, ''),
    cliTransitHelper: file.cliTransitHelper || '',
    file, saved,
  };
}

export function clientOptions(cfg) {
  const relay = { websocket: [cfg.transit] };
  if (cfg.transitTCP) relay.tcp = [cfg.transitTCP];
  return { mailboxURL: cfg.mailbox, relays: [relay] };
}

// The command the other person types. --relay-url unless our mailbox is
// the CLI's default; --transit-helper only when the CLI cannot learn our
// relay's TCP address from the relay hint we send (none is configured).
export function cliCommand(cfg, code) {
  const parts = ['wormhole'];
  if (cfg.mailbox !== CLI_DEFAULT_MAILBOX) parts.push('--relay-url', cfg.mailbox);
  if (!cfg.transitTCP && cfg.cliTransitHelper) parts.push('--transit-helper', cfg.cliTransitHelper);
  parts.push('receive', code);
  return parts.join(' ');
}
