package wormhole

import (
	"errors"

	"github.com/wasmhole/wasmhole/core/client"
	"github.com/wasmhole/wasmhole/core/mailbox"
	"github.com/wasmhole/wasmhole/core/transitnet"
)

// Sentinel errors. Every error a Wormhole returns wraps at most one of
// them (test with errors.Is); they are the same values the machines use,
// so errors.Is works whichever layer produced the error.
var (
	// ErrWrongCode: the peer's messages do not decrypt, i.e. one side
	// typed the wrong code. The session is closed with mood "scary".
	ErrWrongCode = client.ErrWrongCode
	// ErrBadCode: SetCode got a code that is not <number>-<words>.
	ErrBadCode = client.ErrBadCode
	// ErrNoKey: DeriveKey before the key was confirmed.
	ErrNoKey = client.ErrNoKey
	// ErrCrowded: someone else is using the nameplate or mailbox.
	ErrCrowded = mailbox.ErrCrowded
	// ErrUnwelcome: the server's welcome refused this client.
	ErrUnwelcome = mailbox.ErrUnwelcome
	// ErrServer: the server answered a command with an error.
	ErrServer = mailbox.ErrServer
	// ErrClosed: the session is closed (by Close, or after it failed and
	// the failure was already reported).
	ErrClosed = errors.New("wormhole: session closed")
	// ErrCodeSet: AllocateCode or SetCode after the code was chosen.
	ErrCodeSet = errors.New("wormhole: the code is already chosen")
	// ErrRelayUnreachable: the mailbox server (or, for the data, every
	// transit relay and direct hint) could not be reached at all, so
	// nothing was exchanged with the peer over it.
	// The mailbox case comes from New's first dial; the transit case is
	// core/transitnet's own sentinel, which this is.
	ErrRelayUnreachable = transitnet.ErrRelayUnreachable
	// ErrPeerGone: the peer's connection ended in the middle of a
	// transfer without an error message from it (killed, network lost).
	ErrPeerGone = errors.New("wormhole: the peer disappeared")
)
