// @ts-check
// qr.js: the receive link and its QR code.

const SVG_NS = 'http://www.w3.org/2000/svg';

// drawQR draws qr ({size, modules}) into svg with a 4-module quiet zone.
export function drawQR(svg, qr) {
  svg.replaceChildren();
  if (!qr) return;
  const quiet = 4;
  const n = qr.size + 2 * quiet;
  svg.setAttribute('viewBox', `0 0 ${n} ${n}`);
  svg.setAttribute('shape-rendering', 'crispEdges');
  let d = '';
  for (let y = 0; y < qr.size; y++) {
    for (let x = 0; x < qr.size; x++) {
      if (qr.modules[y * qr.size + x]) d += `M${x + quiet} ${y + quiet}h1v1h-1z`;
    }
  }
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', d);
  svg.append(path);
}

// The receive link: this page with the code in the fragment, which never
// reaches any server.
export function shareLink(code) {
  const u = new URL(location.href);
  u.hash = code;
  return u.href;
}
