// Package jsonxtest holds what the tests share that hold a jsonx-based
// decoder to the encoding/json one it replaced.
package jsonxtest

import (
	"errors"

	"github.com/wasmhole/wasmhole/internal/jsonx"
)

// TooDeep reports whether jsonx refuses data for nesting beyond
// jsonx.MaxDepth: the one input it refuses on purpose where encoding/json
// goes on (no message nests like that; a hostile one would only cost
// stack), so a comparison with encoding/json skips it.
func TooDeep(data []byte) bool {
	_, err := jsonx.Parse(data)
	return errors.Is(err, jsonx.ErrDepth)
}
