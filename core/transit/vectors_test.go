package transit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"golang.org/x/crypto/nacl/secretbox"
)

var updateVectors = flag.Bool("update-vectors", false, "rewrite testdata/records.json")

// recordVector is one entry of testdata/records.json: records sealed by
// this package, which the browser's data path (web/datapath/records.js,
// libsodium) must reproduce byte for byte and open again
// (web/test/datapath.test.mjs).
type recordVector struct {
	Name       string `json:"name"`
	Key        string `json:"key"`
	First      uint64 `json:"first"` // counter (nonce) of the first record
	RecordSize int    `json:"recordSize"`
	Plain      string `json:"plain"`
	Framed     string `json:"framed"` // length || nonce || box, for each record
}

// vectorPlain is deterministic plaintext: SHA-256 in counter mode.
func vectorPlain(n int, seed byte) []byte {
	var out []byte
	for i := 0; len(out) < n; i++ {
		s := sha256.Sum256([]byte{seed, byte(i), byte(i >> 8)})
		out = append(out, s[:]...)
	}
	return out[:n]
}

// sealAt seals p as the records of a Writer whose counter is at first,
// which a Writer reaches only after first records; the layout is the
// one seal documents.
func sealAt(key []byte, first uint64, p []byte, size int) []byte {
	var out []byte
	for i := 0; len(p) > 0 || i == 0; i++ {
		chunk := p[:min(len(p), size)]
		p = p[len(chunk):]
		var nonce [nonceSize]byte
		binary.BigEndian.PutUint64(nonce[nonceSize-8:], first+uint64(i))
		out = binary.BigEndian.AppendUint32(out, uint32(nonceSize+secretbox.Overhead+len(chunk)))
		out = append(out, nonce[:]...)
		out = secretbox.Seal(out, chunk, &nonce, (*[32]byte)(key))
		if len(p) == 0 {
			break
		}
	}
	return out
}

func TestRecordVectors(t *testing.T) {
	key := vectorPlain(32, 0xee)
	var vs []recordVector
	// From the start, through Writer itself.
	for _, c := range []struct {
		name       string
		size, plen int
	}{{"one short record", 64, 5}, {"three records, the last short", 64, 150}, {"empty record", 64, 0}} {
		plain := vectorPlain(c.plen, byte(c.plen))
		var buf bytes.Buffer
		w := NewWriterSize(&buf, key, c.size)
		var err error
		if c.plen == 0 {
			err = w.WriteRecord(nil)
		} else {
			_, err = w.Write(plain)
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := sealAt(key, 0, plain, c.size); !bytes.Equal(got, buf.Bytes()) {
			t.Fatalf("%s: sealAt differs from Writer", c.name)
		}
		vs = append(vs, recordVector{c.name, hex.EncodeToString(key), 0, c.size, hex.EncodeToString(plain), hex.EncodeToString(buf.Bytes())})
	}
	// Later counters: both halves of the 64-bit counter in the nonce.
	for _, first := range []uint64{1000, 1<<32 + 7, 1<<53 - 2} {
		plain := vectorPlain(100, byte(first))
		vs = append(vs, recordVector{"from counter " + jsonNum(first), hex.EncodeToString(key), first, 64,
			hex.EncodeToString(plain), hex.EncodeToString(sealAt(key, first, plain, 64))})
	}
	// Every vector opens with Reader (at counter 0) or secretbox.
	for _, v := range vs {
		if v.First != 0 {
			continue
		}
		framed, _ := hex.DecodeString(v.Framed)
		r := NewReader(bytes.NewReader(framed), key, 0)
		var got []byte
		for {
			rec, err := r.ReadRecord()
			if err != nil {
				break
			}
			got = append(got, rec...)
		}
		if hex.EncodeToString(got) != v.Plain {
			t.Fatalf("%s: Reader gives %x", v.Name, got)
		}
	}
	b, err := json.MarshalIndent(vs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	const path = "testdata/records.json"
	if *updateVectors {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, b) {
		t.Fatalf("%s is stale or was edited: run go test -run TestRecordVectors -update-vectors", path)
	}
	t.Logf("%d vectors in %s", len(vs), path)
}

func jsonNum(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
