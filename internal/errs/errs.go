// Package errs builds the wrapped errors that fmt.Errorf with %w would,
// without fmt.
//
// The browser build leaves fmt out: its printer brings reflection and
// about 80 KB of gzip into the wasm (web/README.md, Size). Messages read
// exactly as the fmt forms they replace:
//
//	fmt.Errorf("reading offer: %w", err)  ->  errs.Wrap("reading offer", err)
//	fmt.Errorf("%w: %s", ErrBadCode, s)    ->  errs.With(ErrBadCode, s)
//	fmt.Errorf("%w: %w", ErrProtocol, err) ->  errs.Chain(ErrProtocol, err)
//	fmt.Errorf("%w (got %q)", ErrBad, s)    ->  errs.Suffix(ErrBad, " (got "+strconv.Quote(s)+")")
//
// Any other arrangement of %w verbs composes its message itself:
//
//	fmt.Errorf("x: %w (%w)", a, b)  ->  errs.New("x: "+a.Error()+" ("+b.Error()+")", a, b)
//
// Numbers go through strconv, and %q through strconv.Quote.
package errs

// Wrap returns an error reading "msg: " followed by err's message, which
// unwraps to err. A nil err gives nil.
func Wrap(msg string, err error) error {
	if err == nil {
		return nil
	}
	return &wrapped{msg: msg + ": " + err.Error(), err: err}
}

// With returns an error reading sentinel's message, ": " and detail,
// which unwraps to sentinel.
func With(sentinel error, detail string) error {
	return &wrapped{msg: sentinel.Error() + ": " + detail, err: sentinel}
}

// Chain returns an error reading "outer: inner", which unwraps to both,
// as fmt.Errorf("%w: %w", outer, inner) does. A nil inner gives outer.
func Chain(outer, inner error) error {
	if inner == nil {
		return outer
	}
	return &chained{msg: outer.Error() + ": " + inner.Error(), errs: []error{outer, inner}}
}

// New returns an error reading msg that unwraps to each of wrapped, as
// fmt.Errorf with that many %w verbs does; the caller writes msg.
func New(msg string, wrapped ...error) error {
	return &chained{msg: msg, errs: wrapped}
}

// Suffix returns an error reading err's message followed directly by
// suffix, which unwraps to err: for the messages that go on after the
// sentinel without a colon.
func Suffix(err error, suffix string) error {
	return &wrapped{msg: err.Error() + suffix, err: err}
}

type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }

type chained struct {
	msg  string
	errs []error
}

func (e *chained) Error() string   { return e.msg }
func (e *chained) Unwrap() []error { return e.errs }
