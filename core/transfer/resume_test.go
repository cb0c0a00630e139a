package transfer

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

const sum64 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

var resumeCases = []struct {
	in   string
	want *Resume // nil = ErrMalformed
}{
	{`{"wasmhole-resume":{"attempt":1,"transit":{"abilities-v1":[],"hints-v1":[]}}}`,
		&Resume{Attempt: 1, Transit: []byte(`{"abilities-v1":[],"hints-v1":[]}`)}},
	{`{"wasmhole-resume":{"attempt":3,"transit":{},"offset":0,"sha256":"` + sum64 + `"}}`,
		&Resume{Attempt: 3, Transit: []byte(`{}`), HasOffset: true, SHA256: mustHex(sum64)}},
	{`{"wasmhole-resume":{"attempt":2,"transit":{},"offset":123456789,"sha256":"` + sum64 + `","later":1}}`,
		&Resume{Attempt: 2, Transit: []byte(`{}`), HasOffset: true, Offset: 123456789, SHA256: mustHex(sum64)}},
	{`{"wasmhole-resume":{"attempt":0,"transit":{}}}`, nil},
	{`{"wasmhole-resume":{"attempt":1048577,"transit":{}}}`, nil},
	{`{"wasmhole-resume":{"attempt":1.5,"transit":{}}}`, nil},
	{`{"wasmhole-resume":{"attempt":1}}`, nil},
	{`{"wasmhole-resume":{"attempt":1,"transit":[]}}`, nil},
	{`{"wasmhole-resume":{"attempt":1,"transit":{},"offset":5}}`, nil},
	{`{"wasmhole-resume":{"attempt":1,"transit":{},"sha256":"` + sum64 + `"}}`, nil},
	{`{"wasmhole-resume":{"attempt":1,"transit":{},"offset":-1,"sha256":"` + sum64 + `"}}`, nil},
	{`{"wasmhole-resume":{"attempt":1,"transit":{},"offset":1,"sha256":"` + strings.ToUpper(sum64) + `"}}`, nil},
	{`{"wasmhole-resume":{"attempt":1,"transit":{},"offset":1,"sha256":"abcd"}}`, nil},
	{`{"wasmhole-resume":null}`, nil},
	{`{"wasmhole-resume":{"attempt":1,"transit":{}},"error":"x"}`, nil},
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseResume(t *testing.T) {
	for _, tc := range resumeCases {
		m, err := ParseMessage([]byte(tc.in))
		if tc.want == nil {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: want ErrMalformed, got %v", tc.in, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(m.Resume, tc.want) {
			t.Errorf("%s: got %+v, %v", tc.in, m, err)
			continue
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseMessage(enc)
		if err != nil || !reflect.DeepEqual(back.Resume, tc.want) {
			t.Errorf("%s: round trip %s: %+v, %v", tc.in, enc, back, err)
		}
	}
}

func FuzzParseResume(f *testing.F) {
	for _, tc := range resumeCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil || m.Resume == nil {
			return
		}
		r := m.Resume
		if r.Attempt < 1 || r.Attempt > maxAttempt || r.HasOffset && (r.Offset < 0 || len(r.SHA256) != 32) ||
			!r.HasOffset && (r.Offset != 0 || r.SHA256 != nil) {
			t.Fatalf("accepted invalid %q: %+v", b, r)
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("cannot encode accepted %q: %v", b, err)
		}
		m2, err := ParseMessage(enc)
		if err != nil || !reflect.DeepEqual(m2.Resume.SHA256, r.SHA256) || m2.Resume.Offset != r.Offset {
			t.Fatalf("round trip of %q: %+v, %v", enc, m2, err)
		}
	})
}

// TestResumeMachine walks the machine through the sequences of the two
// ends: who notices first, both at once, a failing dial, a stale message,
// the deadline.
func TestResumeMachine(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	peer := func(n int) ResumePeer { return ResumePeer{Msg: &Resume{Attempt: n, Transit: []byte(`{}`)}, Now: t0} }
	type step struct {
		ev   any
		want []string // action kinds with their attempt
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"we notice first", []step{
			{ResumeLost{Now: t0}, []string{"send 1", "timer 1"}},
			{peer(1), []string{"dial 1"}},
			{ResumeFlowing{Attempt: 1}, nil},
		}},
		{"the peer notices first", []step{
			{peer(1), []string{"abort", "send 1", "timer 1", "dial 1"}},
			{ResumeLost{Now: t0}, []string{"send 2", "timer 2"}}, // the new dial failed
		}},
		{"both at once", []step{
			{ResumeLost{Now: t0}, []string{"send 1", "timer 1"}},
			{peer(1), []string{"dial 1"}},
			{peer(1), nil},
		}},
		{"stale and duplicate messages", []step{
			{peer(2), []string{"abort", "send 2", "timer 2", "dial 2"}},
			{peer(1), nil},
			{ResumeTimer{Attempt: 1, Now: t0}, nil},
		}},
		{"dial fails, back-off, retry", []step{
			{ResumeLost{Now: t0}, []string{"send 1", "timer 1"}},
			{peer(1), []string{"dial 1"}},
			{ResumeLost{Now: at(time.Second)}, []string{"timer 1"}},
			{ResumeTimer{Attempt: 1, Now: at(2 * time.Second)}, []string{"send 2", "timer 2"}},
			{peer(2), []string{"dial 2"}},
			{ResumeFlowing{Attempt: 2}, nil},
			{ResumeLost{Now: at(time.Hour)}, []string{"send 3", "timer 3"}}, // flowing reset the deadline
		}},
		{"deadline while waiting for the peer", []step{
			{ResumeLost{Now: t0}, []string{"send 1", "timer 1"}},
			{ResumeTimer{Attempt: 1, Now: at(DefaultResumeTimeout)}, []string{"fail"}},
			{peer(1), nil},
		}},
		{"deadline after failed dials", []step{
			{ResumeLost{Now: t0}, []string{"send 1", "timer 1"}},
			{peer(1), []string{"dial 1"}},
			{ResumeLost{Now: at(DefaultResumeTimeout + time.Second)}, []string{"fail"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewResumeMachine(ResumeConfig{Rand: bytes.NewReader(make([]byte, 64))})
			for i, s := range tc.steps {
				var got []string
				for _, a := range m.Handle(s.ev) {
					switch a := a.(type) {
					case ResumeAbort:
						got = append(got, "abort")
					case ResumeSend:
						got = append(got, "send "+itoa(int64(a.Attempt)))
					case ResumeSetTimer:
						got = append(got, "timer "+itoa(int64(a.Attempt)))
						if a.After < 0 || a.After > DefaultResumeTimeout {
							t.Errorf("step %d: timer after %v", i, a.After)
						}
					case ResumeDial:
						got = append(got, "dial "+itoa(int64(a.Attempt)))
					case ResumeFail:
						got = append(got, "fail")
						// The message reads as fmt's "transfer: %w after %v" did.
						if !errors.Is(a.Err, ErrResumeTimeout) || a.Err.Error() != "transfer: gave up reconnecting the transfer after 2m0s" {
							t.Errorf("step %d: fail with %v", i, a.Err)
						}
					}
				}
				if !reflect.DeepEqual(got, s.want) {
					t.Fatalf("step %d (%T): got %q, want %q", i, s.ev, got, s.want)
				}
			}
		})
	}
}

// TestResumeBackoff: the back-off grows from ResumeBackoffInitial to
// ResumeBackoffMax and stays within the jitter.
func TestResumeBackoff(t *testing.T) {
	m := NewResumeMachine(ResumeConfig{})
	for tries, want := range map[int]time.Duration{2: ResumeBackoffInitial, 3: 2 * ResumeBackoffInitial, 20: ResumeBackoffMax} {
		m.tries = tries
		if got := m.backoff(); got != want {
			t.Errorf("tries %d: %v, want %v (no jitter source: the middle)", tries, got, want)
		}
	}
}
