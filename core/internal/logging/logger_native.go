//go:build !js

package logging

import "github.com/go-logr/logr"

// Logger is logr.Logger; its zero value discards.
type Logger = logr.Logger
