package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/go-logr/logr"
)

func newLogger(c *Config, w io.Writer) (logr.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	lv, _ := parseLevel(c.LogLevel) // validated already
	level.Set(lv)
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if c.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return logr.FromSlogHandler(debugLevels{h}), level
}

// debugLevels prints logr's V(1), V(2)... (slog levels -1, -2...) as
// DEBUG rather than "DEBUG+3"; filtering still uses the real level.
type debugLevels struct{ slog.Handler }

func (d debugLevels) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelInfo && r.Level > slog.LevelDebug {
		r.Level = slog.LevelDebug
	}
	return d.Handler.Handle(ctx, r)
}

func (d debugLevels) WithAttrs(as []slog.Attr) slog.Handler {
	return debugLevels{d.Handler.WithAttrs(as)}
}

func (d debugLevels) WithGroup(name string) slog.Handler {
	return debugLevels{d.Handler.WithGroup(name)}
}

// logrWriter feeds net/http's error log (TLS noise, bad requests) into
// logr at debug verbosity.
type logrWriter struct{ log logr.Logger }

func (w logrWriter) Write(p []byte) (int, error) {
	w.log.V(1).Info(string(p))
	return len(p), nil
}
