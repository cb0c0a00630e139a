package mailbox

import "fmt"

// protoErr is an error message to the client. kind labels the metric;
// msg is the exact "error" string (the reference's where one exists).
type protoErr struct{ kind, msg string }

func (e protoErr) Error() string { return e.msg }

var (
	errMissingType     = protoErr{"missing_type", "missing 'type'"}
	errNotObject       = protoErr{"bad_json", "message is not a JSON object"}
	errMustBind        = protoErr{"must_bind_first", "must bind first"}
	errAlreadyBound    = protoErr{"already_bound", "already bound"}
	errBindAppID       = protoErr{"bad_bind", "bind requires 'appid'"}
	errBindSide        = protoErr{"bad_bind", "bind requires 'side'"}
	errGreedy          = protoErr{"greedy", "you already allocated one, don't be greedy"}
	errNoFreeNameplate = protoErr{"no_free_nameplate", "no free nameplate, try again later"}
	errClaimNP         = protoErr{"bad_claim", "claim requires 'nameplate'"}
	errOneClaim        = protoErr{"one_claim", "only one claim per connection"}
	errCrowded         = protoErr{"crowded", "crowded"}
	errReclaimed       = protoErr{"reclaimed", "reclaimed"}
	errOneRelease      = protoErr{"one_release", "only one release per connection"}
	errReleaseSame     = protoErr{"bad_release", "release and claim must use same nameplate"}
	errReleaseNoClaim  = protoErr{"bad_release", "release without nameplate must follow claim"}
	errOneOpen         = protoErr{"one_open", "only one open per connection"}
	errOpenMailbox     = protoErr{"bad_open", "open requires 'mailbox'"}
	errMustOpen        = protoErr{"must_open", "must open mailbox before adding"}
	errMissingPhase    = protoErr{"bad_add", "missing 'phase'"}
	errMissingBody     = protoErr{"bad_add", "missing 'body'"}
	errOneClose        = protoErr{"one_close", "only one close per connection"}
	errCloseSame       = protoErr{"bad_close", "open and close must use same mailbox"}
	errCloseNoOpen     = protoErr{"bad_close", "close without mailbox must follow open"}
	errPingRequires    = protoErr{"bad_ping", "ping requires 'ping'"}
	errUnknownType     = protoErr{"unknown_type", "unknown type"}
	errPermission      = protoErr{"permission_denied", "permission denied"}
	errNPNotDigits     = protoErr{"bad_nameplate", "invalid nameplate: must be digits only"}
	errNPTooLong       = protoErr{"bad_nameplate", fmt.Sprintf("invalid nameplate: longer than %d characters", MaxNameplateLen)}
)

func errNotString(key string) protoErr {
	return protoErr{"bad_type", fmt.Sprintf("'%s' must be a string", key)}
}

func errTooLong(key string, limit int) protoErr {
	return protoErr{"too_long", fmt.Sprintf("'%s' is too long (limit %d characters)", key, limit)}
}
