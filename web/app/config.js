// @ts-check
// config.js: where the relays are. Each address comes from, in this order:
// the URL query (?mailbox=&transit=&transit-tcp=), the saved "Relay
// settings", config.json next to index.html, the relay that serves the
// page (GET /relay.json, asked only when an address is still empty), and
// last the page's own origin. This module also turns the result into
// client options and into the command line the other person types.

/**
 * The page's relay addresses.
 * @typedef {object} Config
 * @property {string} mailbox     mailbox WebSocket URL
 * @property {string} transit     transit relay WebSocket URL
 * @property {string} transitTCP  the same relay's TCP "host:port" for CLIs, "" for none
 * @property {string} cliTransitHelper  "tcp:host:port" to show as --transit-helper when transitTCP is ""
 * @property {Record<string, string>} file   config.json as read
 * @property {Record<string, string>} saved  the saved settings
 */

/** The public mailbox: older CLIs' default, then today's upstream default. */
export const CLI_DEFAULT_MAILBOXES = ['ws://relay.magic-wormhole.io:4000/v1', 'wss://relay.magic-wormhole.io/v1'];
export const SETTINGS_KEY = 'wasmhole.relays';

/** @param {unknown} v */
const str = (v) => (typeof v === 'string' ? v.trim() : '');

/**
 * resolveConfig picks each address from its sources (see the top of this
 * file). relay is /relay.json's answer, or null. A page served over https
 * dials only wss:// (a browser refuses ws:// there anyway).
 * @param {{query: URLSearchParams, saved: Record<string, string>, file: Record<string, string>,
 *          relay: Record<string, string>|null, location: {protocol: string, host: string, hostname: string}}} src
 * @returns {Config}
 */
export function resolveConfig({ query, saved, file, relay, location }) {
  const https = location.protocol === 'https:';
  const wsOrigin = (https ? 'wss://' : 'ws://') + location.host;
  const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
  const pick = (/** @type {string} */ key, /** @type {string} */ param) =>
    str(query.get(param)) || str(saved[key]) || str(file[key]) || str(relay && relay[key]);
  const secure = (/** @type {string} */ url) => {
    if (!https || !url.startsWith('ws://')) return url;
    return url === CLI_DEFAULT_MAILBOXES[0] ? CLI_DEFAULT_MAILBOXES[1] : `wss://${url.slice(5)}`;
  };
  // "none" turns the TCP address off (a relay without a TCP port); the
  // relay says "tcp:HOST:PORT", config.json "HOST:PORT": both work.
  const tcp = (pick('transitTCP', 'transit-tcp') || `${host}:4001`).replace(/^none$/, '').replace(/^tcp:/, '');
  return {
    mailbox: secure(pick('mailbox', 'mailbox') || `${wsOrigin}/v1`),
    transit: secure(pick('transit', 'transit') || `${wsOrigin}/transit`),
    transitTCP: tcp,
    cliTransitHelper: str(file.cliTransitHelper),
    file,
    saved,
  };
}

/**
 * Reads a JSON object from url; null when it is missing or not an object.
 * @param {URL} url
 * @returns {Promise<Record<string, string>|null>}
 */
async function fetchJSON(url) {
  try {
    const res = await fetch(url, { cache: 'no-store' });
    if (!res.ok) return null;
    const v = await res.json();
    return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/** @returns {Promise<Config>} */
export async function loadConfig() {
  /** @type {Record<string, string>} */
  const file = (await fetchJSON(new URL('config.json', document.baseURI))) || {};
  /** @type {Record<string, string>} */
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) || '{}') || {};
  } catch {
    saved = {};
  }
  const query = new URLSearchParams(location.search);
  let cfg = resolveConfig({ query, saved, file, relay: null, location });
  const empty = ['mailbox', 'transit', 'transitTCP'].some(
    (k) => !str(query.get(k === 'transitTCP' ? 'transit-tcp' : k)) && !str(saved[k]) && !str(file[k]),
  );
  if (empty) {
    // Our relay says where it really listens (its TCP transit port, its
    // URLs behind a proxy); a static host answers 404 and the defaults stay.
    const relay = await fetchJSON(new URL('/relay.json', location.origin));
    if (relay) cfg = resolveConfig({ query, saved, file, relay, location });
  }
  return cfg;
}

/** @param {Config} cfg */
export function clientOptions(cfg) {
  /** @type {{websocket: string[], tcp?: string[]}} */
  const relay = { websocket: [cfg.transit] };
  if (cfg.transitTCP) relay.tcp = [cfg.transitTCP];
  return { mailboxURL: cfg.mailbox, relays: [relay] };
}

/**
 * The command the other person types. --relay-url unless our mailbox is
 * the CLI's default (either spelling); --transit-helper only when the CLI
 * cannot learn our relay's TCP address from the relay hint we send (none
 * is configured).
 * @param {Config} cfg
 * @param {string} code
 */
export function cliCommand(cfg, code) {
  const parts = ['wormhole'];
  if (!CLI_DEFAULT_MAILBOXES.includes(cfg.mailbox)) parts.push('--relay-url', cfg.mailbox);
  if (!cfg.transitTCP && cfg.cliTransitHelper) parts.push('--transit-helper', cfg.cliTransitHelper);
  parts.push('receive', code);
  return parts.join(' ');
}
