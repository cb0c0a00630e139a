// Globals of the wasm worker (worker.js) for tsc -p jsconfig.worker.json:
// Go's JS glue (wasm_exec.js), the build's wasm-hash.js, and what the Go
// client installs.
declare class Go {
  importObject: WebAssembly.Imports;
  argv: string[];
  run(instance: WebAssembly.Instance): Promise<void>;
}

interface WorkerGlobalScope {
  /** Written by scripts/build-web.sh into wasm-hash.js. */
  WASMHOLE_WASM_SHA256?: string;
  /** Called by the Go client once self.wasmhole is installed. */
  wasmholeStarted?: (value?: unknown) => void;
  /** The Go client's API (wasm/main.go). */
  wasmhole?: Record<string, (...args: unknown[]) => unknown>;
  /** How many workers seal and open records (the crypto-workers parameter). */
  WASMHOLE_CRYPTO_WORKERS?: number;
  /** The bound of a plain WebSocket's receive backlog in bytes (the receive-backlog parameter). */
  WASMHOLE_RECEIVE_BACKLOG?: number;
  /** The JS data path (web/datapath), once datapath.js has loaded. */
  wasmholeDataPath?: {
    stats: Record<string, unknown>;
    /** The page's answer to a request for workers (wasmhole.js _spawn). */
    spawned(m: { id: number; ports: MessagePort[] }): void;
    spawnFailed(m: { id: number; message: string }): void;
  };
}

interface Performance {
  /** Chromium only. */
  memory?: { usedJSHeapSize: number };
}
