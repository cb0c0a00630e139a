package zipread_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"log"

	"github.com/wasmhole/wasmhole/internal/zipread"
)

func Example() {
	// A zip as a peer might send it (here written with archive/zip).
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"docs/", "docs/hello.txt"} {
		w, err := zw.Create(name)
		if err != nil {
			log.Fatal(err)
		}
		if name == "docs/hello.txt" {
			io.WriteString(w, "hello, zip")
		}
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}

	zr, err := zipread.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			log.Fatal(err)
		}
		data, err := io.ReadAll(rc) // checks the CRC-32 at the end
		rc.Close()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %v %q\n", f.Name, f.Mode().IsDir(), data)
	}
	// Output:
	// docs/ true ""
	// docs/hello.txt false "hello, zip"
}
