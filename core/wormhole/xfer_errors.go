package wormhole

import (
	"errors"

	"github.com/wasmhole/wasmhole/core/transfer"
)

// Sentinel errors of the file-transfer flows (send.go, receive.go).
var (
	// ErrRejected: the receiver declined the offer ({"error": "transfer
	// rejected"}). It is transfer.ErrRejected, so errors.Is also matches
	// the transfer.PeerError inside.
	ErrRejected = transfer.ErrRejected
	// ErrPeerCancelled: the peer sent any other {"error"}: it gave up,
	// was cancelled or failed.
	ErrPeerCancelled = errors.New("the peer cancelled the transfer")
)
