// ESLint for the browser page, the JS API and its workers, the service
// worker, the Cloudflare Worker and the Node test and bench scripts.
// Formatting is prettier's job (.prettierrc.json); this only finds bugs.
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['**/node_modules/', 'dist/', 'relay/worker/dist/', 'web/test/artifacts/'] },
  js.configs.recommended,
  {
    rules: {
      'no-unused-vars': ['error', { args: 'after-used', argsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-empty': ['error', { allowEmptyCatch: true }],
      eqeqeq: ['error', 'always'],
      'prefer-const': 'error',
      'no-var': 'error',
    },
  },
  { files: ['web/*.js', 'web/app/*.js'], languageOptions: { globals: globals.browser } },
  { files: ['web/early.js'], languageOptions: { sourceType: 'script' } },
  // Classic worker scripts: importScripts, and Go's glue defines Go.
  {
    files: ['web/worker.js'],
    languageOptions: { sourceType: 'script', globals: { ...globals.worker, Go: 'readonly' } },
  },
  // The data path (bundled by esbuild) runs in the client's worker and its own workers.
  { files: ['web/datapath/*.js'], languageOptions: { globals: globals.worker } },
  // The benchmark's agent page.
  { files: ['web/test/bench/*.js'], languageOptions: { globals: { ...globals.browser, WebSocketStream: 'readonly' } } },
  { files: ['web/sw.js'], languageOptions: { sourceType: 'script', globals: globals.serviceworker } },
  // Cloudflare Workers: service-worker globals plus WebSocketPair.
  {
    files: ['relay/worker/src/**/*.js'],
    languageOptions: { globals: { ...globals.serviceworker, Go: 'readonly', WebSocketPair: 'readonly' } },
  },
  {
    files: ['**/*.mjs', 'eslint.config.js', 'relay/worker/test/**/*.js'],
    languageOptions: { globals: { ...globals.node } },
  },
  // Browser tests hand functions to page.evaluate, which run in the page.
  {
    files: ['web/test/**/*.mjs', 'relay/worker/test/**/*.mjs'],
    languageOptions: { globals: { ...globals.browser, ...globals.node, Go: 'readonly' } },
  },
];
