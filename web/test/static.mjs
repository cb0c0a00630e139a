// A minimal static file server for the UI tests that need no relay. It
// sends the relay's Content-Security-Policy (relay/config.go DefaultCSP),
// so the page is proven to work without inline scripts or styles.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { once } from 'node:events';

export const CSP =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
  "img-src 'self' data: blob:; connect-src 'self'; worker-src 'self' blob:; manifest-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.md': 'text/markdown; charset=utf-8',
};

/**
 * Serves root on 127.0.0.1:<free port>; returns {url, close}. connect
 * lists the WebSocket origins the page may dial besides its own (a relay
 * elsewhere), added to the CSP's connect-src.
 */
export async function serveStatic(root, { connect = [] } = {}) {
  const csp = connect.length ? CSP.replace("connect-src 'self'", `connect-src 'self' ${connect.join(' ')}`) : CSP;
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    let p = path.join(root, decodeURIComponent(u.pathname));
    if (!p.startsWith(root)) {
      res.writeHead(403).end();
      return;
    }
    if (fs.existsSync(p) && fs.statSync(p).isDirectory()) p = path.join(p, 'index.html');
    if (!fs.existsSync(p)) {
      res.writeHead(404, { 'Content-Security-Policy': csp }).end('not found');
      return;
    }
    res.writeHead(200, {
      'Content-Type': TYPES[path.extname(p)] || 'application/octet-stream',
      'Content-Security-Policy': csp,
      'Cache-Control': 'no-cache',
    });
    fs.createReadStream(p).pipe(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}
