// Package logging names the logger the core's options take: logr.Logger in
// native builds, and a no-op of the same shape in the browser build.
//
// go-logr imports log/slog, and slog's package initialisation alone keeps
// about 26 KB (gzip) of log and slog code in the wasm, although nothing in
// the page logs. So under GOOS=js, Logger is an empty struct with the few
// logr.Logger methods the core calls, and every call is a no-op. Native
// callers pass any logr.Logger, exactly as before.
//
// A no-op call still costs its arguments: the []any built for it, each
// value converted to an interface, strings formatted for it. Calls inside
// `if logging.Enabled` leave no code at all in the browser build (in
// core/wormhole about 4 KB of the wasm's gzip).
package logging
