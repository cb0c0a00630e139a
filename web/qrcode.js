// @ts-check
// qrcode.js: the QR encoder the page draws the receive link with, encodeQR
// of the npm package qr (paulmillr/qr, MIT; web/datapath/package.json pins
// it). In the site scripts/build-web.sh puts the package bundled
// (web/datapath/build.mjs) in this file's place; app/qr.js imports it only
// when a code is shown, so the first paint does not wait for it.
export { encodeQR } from 'qr';
