package wormhole

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/wasmhole/wasmhole/core/transfer"
	"github.com/wasmhole/wasmhole/core/words"
)

// TestErrorsReadAsFmt: the errors built without fmt (the browser build
// leaves it out) read as the fmt.Errorf forms they replace and unwrap to
// the same errors.
func TestErrorsReadAsFmt(t *testing.T) {
	ctx := context.Background()
	rejected := &transfer.PeerError{Text: transfer.TextRejected}
	cancelled := &transfer.PeerError{Text: "transfer cancelled"}
	_, codeErr := words.Nameplate("x-7")
	sendErr := (&Wormhole{}).Send(ctx, nil)
	_, sizeErr := (&Client{}).SendFile(ctx, `a "b"`, -3, nil, SendOptions{})
	for _, tc := range []struct {
		name      string
		got, want error
		is        []error
	}{
		{"declined", peerError(transfer.TextRejected),
			fmt.Errorf("wormhole: the receiver declined: %w (%w)", ErrRejected, rejected),
			[]error{ErrRejected}},
		{"gave up", peerError("transfer cancelled"),
			fmt.Errorf("wormhole: the peer gave up: %w: %w", ErrPeerCancelled, cancelled),
			[]error{ErrPeerCancelled}},
		{"resume gave up", bracket(transfer.ErrResumeTimeout, io.ErrUnexpectedEOF),
			fmt.Errorf("wormhole: %w (%w)", transfer.ErrResumeTimeout, io.ErrUnexpectedEOF),
			[]error{transfer.ErrResumeTimeout, io.ErrUnexpectedEOF}},
		{"bad code", (&Wormhole{}).SetCode(ctx, "x-7"),
			fmt.Errorf("wormhole: %w %q: %w", ErrBadCode, "x-7", codeErr),
			[]error{ErrBadCode}},
		{"no code", sendErr, errors.New("wormhole: send: no code yet (call AllocateCode or SetCode)"), nil},
		{"negative size", sizeErr, fmt.Errorf("wormhole: send file %q: negative size %d", `a "b"`, -3), nil},
	} {
		if tc.got == nil || tc.got.Error() != tc.want.Error() {
			t.Errorf("%s: got %v, want %q", tc.name, tc.got, tc.want)
			continue
		}
		for _, target := range tc.is {
			if !errors.Is(tc.got, target) {
				t.Errorf("%s: %q does not unwrap to %q", tc.name, tc.got, target)
			}
		}
	}
	var perr *transfer.PeerError
	if !errors.As(peerError("x"), &perr) || perr.Text != "x" {
		t.Error("peerError does not carry the peer's PeerError")
	}
	// A resume the peer's messages ended before any loss here has no
	// last loss to show.
	if err := bracket(transfer.ErrResumeTimeout, nil); err.Error() != "wormhole: "+transfer.ErrResumeTimeout.Error() ||
		!errors.Is(err, transfer.ErrResumeTimeout) {
		t.Errorf("bracket without a loss: %v", err)
	}
}

func TestAnswerString(t *testing.T) {
	for _, a := range []transfer.Answer{{}, {MessageAck: "ok"}, {FileAck: "not ok"}, {MessageAck: "a b", FileAck: "c"}} {
		if got, want := answerString(&a), fmt.Sprintf("%+v", a); got != want {
			t.Errorf("answerString = %q, want %q", got, want)
		}
	}
}
