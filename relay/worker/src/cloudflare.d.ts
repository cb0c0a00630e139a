// The parts of the Cloudflare Workers runtime that index.js uses, for
// tsc -p jsconfig.worker.json (the repo does not install
// @cloudflare/workers-types). Declarations only.
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}

declare module 'cloudflare:sockets' {
  interface Socket {
    readable: ReadableStream<Uint8Array>;
    writable: WritableStream<Uint8Array>;
    opened: Promise<unknown>;
    closed: Promise<void>;
    close(): Promise<void>;
  }
  export function connect(address: { hostname: string; port: number }): Socket;
}

declare module 'cloudflare:workers' {
  export class DurableObject {
    constructor(ctx: any, env: any);
    ctx: any;
    env: any;
  }
}

// Go (wasm_exec.js) is declared in web/worker-globals.d.ts.

declare class WebSocketPair {
  0: WebSocket & { accept(): void };
  1: WebSocket & { accept(): void };
}

interface ResponseInit {
  /** The client end of a WebSocketPair, for a 101 response. */
  webSocket?: WebSocket;
}
