//go:build !js

package logging

import "github.com/go-logr/logr"

// Enabled is true: native builds log through logr.
const Enabled = true

// Logger is logr.Logger; its zero value discards.
type Logger = logr.Logger
