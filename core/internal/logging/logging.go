// Package logging names the logger the core's options take: logr.Logger in
// native builds, and a no-op of the same shape in the browser build.
//
// go-logr imports log/slog, and slog's package initialisation alone keeps
// about 26 KB (gzip) of log and slog code in the wasm, although nothing in
// the page logs. So under GOOS=js, Logger is an empty struct with the few
// logr.Logger methods the core calls, and every call is a no-op. Native
// callers pass any logr.Logger, exactly as before.
package logging
