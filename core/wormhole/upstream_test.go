package wormhole_test

// Our native client against what people install today: the upstream
// Python CLI (master after 0.24.0) on the upstream mailbox server (after
// 0.8.0) and transit relay 0.4, all from the reference peers' upstream/
// directory (internal/peers). Debian's 0.12 stays the main peer
// (interop_test.go); this shows that nothing changed under us since.

import (
	"archive/zip"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/core/transfer"
	"github.com/wasmhole/wasmhole/core/wormhole"
	"github.com/wasmhole/wasmhole/internal/peers"
)

// TestUpstream: we send to and receive from today's CLI text, a file and
// a folder through today's servers, over the relay and, inside the
// private namespace, directly.
func TestUpstream(t *testing.T) {
	py := pyCLI{prog: peers.UpstreamCLI(t), emptyDirs: true}
	srv := peers.StartUpstream(t)
	fx := newFixtures(t)
	for _, dir := range []string{"send", "receive"} {
		for _, pc := range []payloadCase{payloadCases[0], payloadCases[2], payloadCases[4]} {
			for _, relay := range paths(pc) {
				t.Run(fmt.Sprintf("%s/%s/%s", dir, pc.name, pathName(relay)), func(t *testing.T) {
					if !relay {
						peers.RequireNetns(t) // the direct path uses the namespace's 198.18.0.1
					}
					t.Parallel()
					if dir == "send" {
						sendToPython(t, py, srv, fx, pc, relay)
					} else {
						receiveFromPython(t, py, srv, fx, pc, relay)
					}
				})
			}
		}
	}
}

// TestUpstreamFolderZip receives a folder from today's CLI as the raw zip
// it sends and looks inside before unpacking it. Today's CLI streams the
// zip with zipstream-ng in its sized mode, which cannot compress: the
// entries arrive stored although the offer says "zipfile/deflated", and
// empty folders come as directory entries. Debian's 0.12 deflates every
// entry and leaves empty folders out. Our receiver must unpack both; the
// methods are checked so that a change upstream shows up here.
func TestUpstreamFolderZip(t *testing.T) {
	for _, tc := range []struct {
		name       string
		prog       func(t *testing.T) string
		srv        func(t *testing.T) *peers.Servers
		method     uint16
		emptyDirs  bool
		methodName string
	}{
		{"upstream", func(t *testing.T) string { return peers.UpstreamCLI(t) }, func(t *testing.T) *peers.Servers { return peers.StartUpstream(t) }, zip.Store, true, "stored"},
		{"python-0.12", func(t *testing.T) string { peers.Need(t, "wormhole"); return "wormhole" },
			func(t *testing.T) *peers.Servers { return peers.StartReference(t, 0, 0) }, zip.Deflate, false, "deflated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prog := tc.prog(t)
			srv := tc.srv(t)
			ctx := xferCtx(t, 5*time.Minute)
			tree := filepath.Join(t.TempDir(), "tree")
			want := peers.MakeTree(t, tree)
			if !tc.emptyDirs {
				want = withoutEmptyDirs(want)
			}
			cli := peers.Start(t, filepath.Dir(tree), nil, "", prog, "--relay-url", srv.MailboxURL,
				"--transit-helper", srv.TransitHelper(), "send", "--hide-progress", "--no-listen", "tree")
			code := cli.Code(t, codeWait)
			log := &logBuf{}
			offer, err := newClient(t, srv, true, log).Receive(ctx, code)
			if err != nil {
				t.Fatal(err)
			}
			if offer.Kind != wormhole.Directory {
				t.Fatalf("offer %+v, want a directory", offer)
			}
			raw, err := os.Create(filepath.Join(t.TempDir(), "tree.zip"))
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if err := offer.Accept(ctx, raw, wormhole.AcceptOptions{}); err != nil {
				t.Fatalf("Accept: %v\n%s\n%s", err, cli.Output(), log)
			}
			if err := cli.Wait(ctx); err != nil {
				t.Fatalf("%s send: %v\n%s", tc.name, err, cli.Output())
			}

			zr, err := zip.NewReader(raw, offer.Size)
			if err != nil {
				t.Fatal(err)
			}
			files, dirs := 0, 0
			for _, f := range zr.File {
				if f.FileInfo().IsDir() {
					dirs++
					continue
				}
				files++
				if f.UncompressedSize64 > 0 && f.Method != tc.method {
					t.Errorf("%s: method %d, want %d (%s)", f.Name, f.Method, tc.method, tc.methodName)
				}
			}
			t.Logf("%s sent a %d-byte zip: %d files %s, %d directory entries", tc.name, offer.Size, files, tc.methodName, dirs)
			if tc.emptyDirs != (dirs > 0) {
				t.Errorf("%d directory entries; want empty folders included = %v", dirs, tc.emptyDirs)
			}
			dest := filepath.Join(t.TempDir(), "out")
			if err := transfer.Extract(raw, offer.Size, dest, transfer.Limits{}); err != nil {
				t.Fatal(err)
			}
			if got := peers.TreeManifest(t, dest); !reflect.DeepEqual(got, want) {
				t.Fatalf("unpacked tree differs:\n got %v\nwant %v", sortedKV(got), sortedKV(want))
			}
		})
	}
}
