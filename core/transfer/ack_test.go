package transfer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestAck(t *testing.T) {
	data := []byte("hello")
	sum := sha256.Sum256(data)
	// Python: hashlib.sha256(b"hello").hexdigest()
	const hello = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	if hex.EncodeToString(sum[:]) != hello {
		t.Fatal("sha256 vector")
	}
	b, err := NewAck(sum[:]).Encode()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"ack":"ok","sha256":"`+hello+`"}` {
		t.Fatalf("Encode = %s", b)
	}

	other := sha256.Sum256([]byte("hellO"))
	cases := []struct {
		name, in string
		sum      []byte
		parseErr error
		verErr   error
	}{
		{"ours", string(b), sum[:], nil, nil},
		{"python spacing, upper-case hex", `{"ack": "ok", "sha256": "` + strings.ToUpper(hello) + `"}`, sum[:], nil, nil},
		{"no hash (old peers)", `{"ack": "ok"}`, sum[:], nil, nil},
		{"unknown key", `{"ack":"ok","took":1.5}`, sum[:], nil, nil},
		{"wrong hash", string(b), other[:], nil, ErrHashMismatch},
		{"not ok", `{"ack":"failed"}`, sum[:], nil, ErrAckFailed},
		{"missing ack", `{"sha256":"` + hello + `"}`, nil, ErrMalformed, nil},
		{"ack not string", `{"ack":true}`, nil, ErrMalformed, nil},
		{"short hash", `{"ack":"ok","sha256":"abcd"}`, nil, ErrMalformed, nil},
		{"hash not hex", `{"ack":"ok","sha256":"` + strings.Repeat("zz", 32) + `"}`, nil, ErrMalformed, nil},
		{"hash null", `{"ack":"ok","sha256":null}`, nil, ErrMalformed, nil},
		{"garbage", `ok`, nil, ErrMalformed, nil},
		{"too big", `{"ack":"ok","pad":"` + strings.Repeat("x", MaxAckSize) + `"}`, nil, ErrMalformed, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAck([]byte(tc.in))
			if !errors.Is(err, tc.parseErr) || (err == nil) != (tc.parseErr == nil) {
				t.Fatalf("ParseAck = %+v, %v; want %v", a, err, tc.parseErr)
			}
			if err != nil {
				return
			}
			if err := a.Verify(tc.sum); !errors.Is(err, tc.verErr) || (err == nil) != (tc.verErr == nil) {
				t.Fatalf("Verify = %v; want %v", err, tc.verErr)
			}
		})
	}
}

// The package doc's streaming pattern: both sides hash while the bytes
// flow, and the sender's check passes only for identical streams.
func TestStreamingHashes(t *testing.T) {
	plan, err := NewZipPlan([]Entry{
		memEntry("a.txt", []byte("alpha")),
		memEntry("d/b.bin", bytes.Repeat([]byte{7}, 300000)),
	})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	sendHash := sha256.New()
	sent := make(chan error, 1)
	go func() {
		_, err := plan.WriteTo(io.MultiWriter(pw, sendHash))
		pw.CloseWithError(err)
		sent <- err
	}()

	recvHash := sha256.New()
	var got bytes.Buffer
	n, err := io.Copy(&got, io.TeeReader(io.LimitReader(pr, plan.Size()), recvHash))
	if err != nil || n != plan.Size() {
		t.Fatalf("received %d of %d: %v", n, plan.Size(), err)
	}
	rec, err := NewAck(recvHash.Sum(nil)).Encode()
	if err != nil {
		t.Fatal(err)
	}
	ack, err := ParseAck(rec)
	if err != nil {
		t.Fatal(err)
	}
	// The sender reads the ack only after WriteTo has returned.
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if err := ack.Verify(sendHash.Sum(nil)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if sum := sha256.Sum256(got.Bytes()); !bytes.Equal(sum[:], sendHash.Sum(nil)) {
		t.Fatal("hash of the received bytes differs")
	}
}
