package wormhole_test

// Acceptance tests of the file-transfer flows against the real programs:
// the Python `wormhole` 0.12 CLI and wormhole-william 1.0.6, through the
// reference mailbox server and transit relay on the private loopback that
// peers.Main (TestMain in wormhole_test.go) gives this package.
//
// Every case runs in both directions and, when it carries bytes, over the
// relay (forced: our RelayOnly, Python --no-listen) and over direct TCP
// (the namespace's 198.18.0.1). The path is checked three ways: the
// remote address of our transit connection (our log), Python's
// "(->relay:...)" line, and the reference relay's usage log.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/core/transfer"
	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/core/wormhole"
	"github.com/wasmhole/wasmhole/internal/peers"
)

const xferText = "grüße über das Wurmloch ✓ — text offer"

// codeWait bounds the wait for a stock CLI's "Wormhole code is" line. The
// CLI prints it within a second on an idle machine, but on a loaded one
// Python's start alone took 15 s of wall time for 0.8 s of CPU, and the
// parallel cases start many at once. Code returns at once if the CLI quits.
const codeWait = 2 * time.Minute

// payloadCase is one of the five acceptance payloads.
type payloadCase struct {
	name string
	kind wormhole.OfferKind
	size int64 // files only
}

var payloadCases = []payloadCase{
	{"text", wormhole.Text, 0},
	{"empty", wormhole.File, 0},
	{"1MiB", wormhole.File, 1 << 20},
	{"200MiB", wormhole.File, 200 << 20},
	{"dir", wormhole.Directory, 0},
}

// fixtures are source payloads shared by all tests (the 200 MiB file is
// written once).
type fixtures struct {
	dir   string
	mu    sync.Mutex
	files map[int64]string // size -> path
	sums  map[string]string
	tree  string
	man   map[string]string
}

func newFixtures(t *testing.T) *fixtures {
	return &fixtures{dir: t.TempDir(), files: map[int64]string{}, sums: map[string]string{}}
}

// file returns a random file of size bytes named payload-SIZE.bin.
func (f *fixtures) file(t *testing.T, size int64) (path, sum string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.files[size]; ok {
		return p, f.sums[p]
	}
	p := filepath.Join(f.dir, fmt.Sprintf("payload-%d.bin", size))
	f.sums[p] = peers.WriteRandomFile(t, p, size)
	f.files[size] = p
	return p, f.sums[p]
}

// tree returns the acceptance directory (peers.MakeTree) and its manifest.
func (f *fixtures) dirTree(t *testing.T) (string, map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tree == "" {
		f.tree = filepath.Join(f.dir, "tree ünï")
		f.man = peers.MakeTree(t, f.tree)
	}
	return f.tree, f.man
}

// logBuf collects our library's log lines for path checks and failure
// reports.
type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// transitRelay reports whether our transit connection went through a
// relay, as logged by connectTransit; ok is false if none was logged.
func (b *logBuf) transitRelay() (relay, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		if strings.Contains(l, `"msg"="transit connected" "relay"=`) {
			return strings.Contains(l, `"relay"=true`), true
		}
	}
	return false, false
}

// newClient is our client for srv; relayOnly forces the relay path.
func newClient(t testing.TB, srv *peers.Servers, relayOnly bool, log *logBuf) *wormhole.Client {
	t.Helper()
	relay, err := transit.ParseRelay(srv.TransitHelper())
	if err != nil {
		t.Fatal(err)
	}
	return &wormhole.Client{
		MailboxURL: srv.MailboxURL,
		Relays:     []transit.RelayHint{relay},
		RelayOnly:  relayOnly,
		Logger:     log.logger(),
	}
}

func xferCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// progressLog records progress callbacks and checks they make sense.
type progressLog struct {
	mu    sync.Mutex
	calls int
	last  [2]int64
	bad   string
}

func (p *progressLog) fn(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bad == "" && (done < p.last[0] || done > total || p.calls > 0 && total != p.last[1]) {
		p.bad = fmt.Sprintf("progress went from %v to (%d, %d)", p.last, done, total)
	}
	p.calls++
	p.last = [2]int64{done, total}
}

func (p *progressLog) check(t *testing.T, total int64) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bad != "" {
		t.Error(p.bad)
	}
	if p.calls == 0 || p.last != [2]int64{total, total} {
		t.Errorf("progress: %d calls, last %v, want (%d, %d)", p.calls, p.last, total, total)
	}
}

// usage reads the relay's usage log: one entry per relayed session.
type usageLine struct {
	Mood       string `json:"mood"`
	TotalBytes int64  `json:"total_bytes"`
}

func relayUsage(t testing.TB, srv *peers.Servers) []usageLine {
	t.Helper()
	f, err := os.Open(filepath.Join(srv.StateDir, "transit-usage.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []usageLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var u usageLine
		if json.Unmarshal(sc.Bytes(), &u) == nil {
			out = append(out, u)
		}
	}
	return out
}

// relayCarried reports whether the relay logged a happy session after the
// first `before` lines that carried at least min bytes. The line appears
// when the relay sees the connections close, so it is polled for a while
// when expected.
func relayCarried(t testing.TB, srv *peers.Servers, before int, atLeast int64, expect bool) bool {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	if !expect {
		deadline = time.Now().Add(500 * time.Millisecond)
	}
	for {
		lines := relayUsage(t, srv)
		for _, u := range lines[min(before, len(lines)):] {
			if u.Mood == "happy" && u.TotalBytes >= atLeast && u.TotalBytes > 0 {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkPath asserts that the transfer took the expected path, from our
// side (the transit connection's remote address is the relay or not),
// from Python's output, and, for the shared relay, from its usage log.
func checkPath(t *testing.T, pc payloadCase, relay bool, srv *peers.Servers, log *logBuf, pyOut string, usageBefore int, checkUsage bool) {
	t.Helper()
	if pc.kind == wormhole.Text {
		return
	}
	if got, ok := log.transitRelay(); !ok {
		t.Errorf("no transit connection in our log:\n%s", log)
	} else if got != relay {
		t.Errorf("our transit connection: relay=%v, want %v\n%s", got, relay, log)
	}
	if pyOut != "" {
		if strings.Contains(pyOut, "relay:") != relay {
			t.Errorf("python output does not show the %s path:\n%s", pathName(relay), pyOut)
		}
		if !relay && !strings.Contains(pyOut, peers.DirectAddr) {
			t.Errorf("python output does not show a direct connection to %s:\n%s", peers.DirectAddr, pyOut)
		}
	}
	if checkUsage {
		atLeast := max(pc.size, 1)
		if got := relayCarried(t, srv, usageBefore, atLeast, relay); got != relay {
			t.Errorf("relay usage log: carried >= %d bytes = %v, want %v: %+v", atLeast, got, relay, relayUsage(t, srv)[usageBefore:])
		}
	}
}

func pathName(relay bool) string {
	if relay {
		return "relay"
	}
	return "direct"
}

// withoutEmptyDirs is what Python 0.12 and wormhole-william send of a
// tree: they zip only files, so empty directories do not arrive.
func withoutEmptyDirs(m map[string]string) map[string]string {
	out := maps.Clone(m)
	for name, v := range m {
		if v != "dir" {
			continue
		}
		used := false
		for other, ov := range m {
			if ov != "dir" && strings.HasPrefix(other, name+"/") {
				used = true
			}
		}
		if !used {
			delete(out, name)
		}
	}
	return out
}

// williamTree is what wormhole-william 1.0.6 makes of a tree it
// receives: it extracts every zip entry as a regular file, so an empty
// directory (which our zip carries as a directory entry, as Python >=
// 0.14 does) becomes an empty file. A known peer bug.
func williamTree(m map[string]string) map[string]string {
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	out := maps.Clone(m)
	for name := range withoutEmptyDirs(m) {
		delete(out, name)
	}
	for name := range out {
		out[name] = emptySHA256
	}
	maps.Copy(out, withoutEmptyDirs(m))
	return out
}

// sendOurs starts our send of pc; want describes what must arrive.
func sendOurs(t *testing.T, ctx context.Context, c *wormhole.Client, fx *fixtures, pc payloadCase, prog *progressLog) (tr *wormhole.Transfer, wantSum string, wantTree map[string]string) {
	t.Helper()
	opts := wormhole.SendOptions{Progress: prog.fn}
	var err error
	switch pc.kind {
	case wormhole.Text:
		tr, err = c.SendText(ctx, xferText, opts)
	case wormhole.File:
		var p string
		p, wantSum = fx.file(t, pc.size)
		f, ferr := os.Open(p)
		if ferr != nil {
			t.Fatal(ferr)
		}
		t.Cleanup(func() { f.Close() })
		tr, err = c.SendFile(ctx, "payload.bin", pc.size, f, opts)
	case wormhole.Directory:
		var dir string
		dir, wantTree = fx.dirTree(t)
		entries, skipped, werr := transfer.DirEntries(os.DirFS(dir))
		if werr != nil || len(skipped) > 0 {
			t.Fatalf("DirEntries: %v %v", werr, skipped)
		}
		tr, err = c.SendDirectory(ctx, filepath.Base(dir), entries, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	return tr, wantSum, wantTree
}

// checkReceived compares what a CLI wrote (name inside dir) with the source.
func checkReceived(t *testing.T, got string, pc payloadCase, wantSum string, wantTree map[string]string) {
	t.Helper()
	switch pc.kind {
	case wormhole.File:
		fi, err := os.Stat(got)
		if err != nil {
			t.Fatalf("received file: %v", err)
		}
		if fi.Size() != pc.size {
			t.Fatalf("received %d bytes, want %d", fi.Size(), pc.size)
		}
		if sum := peers.FileSHA256(t, got); sum != wantSum {
			t.Fatalf("received sha256 %s, want %s", sum, wantSum)
		}
	case wormhole.Directory:
		if m := peers.TreeManifest(t, got); !reflect.DeepEqual(m, wantTree) {
			t.Fatalf("received tree differs:\n got %v\nwant %v", sortedKV(m), sortedKV(wantTree))
		}
	}
}

func sortedKV(m map[string]string) []string {
	var out []string
	for k, v := range m {
		if len(v) > 12 {
			v = v[:12]
		}
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// TestInterop runs the acceptance matrix: our core sends to and receives
// from both stock CLIs, five payloads, relay and direct path. The Python
// cases use their own servers and run in parallel with the
// wormhole-william cases, which need the relay on port 4001 (the CLI's
// hard-coded transit.magic-wormhole.io:4001) and run one at a time so that
// the relay's usage log tells which path each one took.
func TestInterop(t *testing.T) {
	peers.RequireNetns(t)
	peers.Need(t, "wormhole", "wormhole-william")
	fx := newFixtures(t)
	py := peers.StartReference(t, 0, 0)
	ww := peers.StartReference(t, 4000, 4001)

	t.Run("python", func(t *testing.T) {
		t.Parallel()
		for _, dir := range []string{"send", "receive"} {
			for _, pc := range payloadCases {
				for _, relay := range paths(pc) {
					t.Run(fmt.Sprintf("%s/%s/%s", dir, pc.name, pathName(relay)), func(t *testing.T) {
						if pc.size > 100<<20 && testing.Short() {
							t.Skip("big payload in -short mode")
						}
						t.Parallel()
						if dir == "send" {
							sendToPython(t, python012, py, fx, pc, relay)
						} else {
							receiveFromPython(t, python012, py, fx, pc, relay)
						}
					})
				}
			}
		}
	})
	t.Run("william", func(t *testing.T) {
		t.Parallel()
		for _, dir := range []string{"send", "receive"} {
			for _, pc := range payloadCases {
				for _, relay := range paths(pc) {
					t.Run(fmt.Sprintf("%s/%s/%s", dir, pc.name, pathName(relay)), func(t *testing.T) {
						if pc.size > 100<<20 && testing.Short() {
							t.Skip("big payload in -short mode")
						}
						if dir == "send" {
							sendToWilliam(t, ww, fx, pc, relay)
						} else {
							receiveFromWilliam(t, ww, fx, pc, relay)
						}
					})
				}
			}
		}
	})
}

// paths: text never opens a transit connection, so it runs once.
func paths(pc payloadCase) []bool {
	if pc.kind == wormhole.Text {
		return []bool{true}
	}
	return []bool{true, false}
}

// pyCLI is a Python magic-wormhole CLI: Debian's 0.12 or today's upstream
// one (peers.UpstreamCLI); both take the same flags.
type pyCLI struct {
	prog string
	// emptyDirs: its folder zips carry empty directories (today's CLI
	// does, 0.12 zips only files).
	emptyDirs bool
}

// python012 is Debian's Python CLI.
var python012 = pyCLI{prog: "wormhole"}

func sendToPython(t *testing.T, py pyCLI, srv *peers.Servers, fx *fixtures, pc payloadCase, relay bool) {
	ctx := xferCtx(t, 5*time.Minute)
	log := &logBuf{}
	prog := &progressLog{}
	tr, wantSum, wantTree := sendOurs(t, ctx, newClient(t, srv, relay, log), fx, pc, prog)
	args := []string{"--relay-url", srv.MailboxURL, "--transit-helper", srv.TransitHelper(),
		"receive", "--hide-progress", "--accept-file", "-o", "out"}
	if relay {
		args = append(args, "--no-listen")
	}
	dir := t.TempDir()
	cli := peers.Start(t, dir, nil, "", py.prog, append(args, tr.Code())...)
	err := tr.Wait()
	cerr := cli.Wait(ctx)
	if err != nil || cerr != nil {
		t.Fatalf("our send: %v; python receive: %v\npython:\n%s\nours:\n%s", err, cerr, cli.Output(), log)
	}
	if pc.kind == wormhole.Text {
		if !strings.Contains(cli.Output(), xferText) {
			t.Fatalf("python did not print the text:\n%s", cli.Output())
		}
		return
	}
	checkReceived(t, filepath.Join(dir, "out"), pc, wantSum, wantTree)
	prog.check(t, progressTotal(pc, tr))
	checkPath(t, pc, relay, srv, log, cli.Output(), 0, false)
}

func receiveFromPython(t *testing.T, py pyCLI, srv *peers.Servers, fx *fixtures, pc payloadCase, relay bool) {
	ctx := xferCtx(t, 5*time.Minute)
	log := &logBuf{}
	args := []string{"--relay-url", srv.MailboxURL, "--transit-helper", srv.TransitHelper(), "send", "--hide-progress"}
	if relay {
		args = append(args, "--no-listen")
	}
	args, srcDir, wantSum, wantTree := cliSendArgs(t, fx, pc, args)
	if pc.kind == wormhole.Directory && py.emptyDirs {
		_, wantTree = fx.dirTree(t)
	}
	cli := peers.Start(t, srcDir, nil, "", py.prog, args...)
	code := cli.Code(t, codeWait)
	out := t.TempDir()
	prog := &progressLog{}
	offer, path, err := newClient(t, srv, relay, log).ReceiveToDir(ctx, code, out, wormhole.AcceptOptions{Progress: prog.fn})
	cerr := cli.Wait(ctx)
	if err != nil || cerr != nil {
		t.Fatalf("our receive: %v; python send: %v\npython:\n%s\nours:\n%s", err, cerr, cli.Output(), log)
	}
	if offer.Kind != pc.kind {
		t.Fatalf("offer kind %v, want %v", offer.Kind, pc.kind)
	}
	if pc.kind == wormhole.Text {
		if offer.Text != xferText {
			t.Fatalf("text %q, want %q", offer.Text, xferText)
		}
		return
	}
	checkReceived(t, path, pc, wantSum, wantTree)
	checkOnly(t, out, filepath.Base(path))
	prog.check(t, offer.Size)
	checkPath(t, pc, relay, srv, log, cli.Output(), 0, false)
}

// cliSendArgs completes a stock CLI's send command line for pc: the text,
// or the file or folder (run the CLI in srcDir), and what the receiving
// side must end up with (without empty folders, which the stock CLIs do
// not zip).
func cliSendArgs(t *testing.T, fx *fixtures, pc payloadCase, args []string) (_ []string, srcDir, wantSum string, wantTree map[string]string) {
	switch pc.kind {
	case wormhole.Text:
		args = append(args, "--text", xferText)
	case wormhole.File:
		var p string
		p, wantSum = fx.file(t, pc.size)
		srcDir, args = filepath.Dir(p), append(args, filepath.Base(p))
	case wormhole.Directory:
		var p string
		p, wantTree = fx.dirTree(t)
		wantTree = withoutEmptyDirs(wantTree)
		srcDir, args = filepath.Dir(p), append(args, filepath.Base(p))
	}
	return args, srcDir, wantSum, wantTree
}

func sendToWilliam(t *testing.T, srv *peers.Servers, fx *fixtures, pc payloadCase, relay bool) {
	ctx := xferCtx(t, 5*time.Minute)
	log := &logBuf{}
	before := len(relayUsage(t, srv))
	prog := &progressLog{}
	var (
		tr           *wormhole.Transfer
		wantSum, dir string
		wantTree     map[string]string
		cli          *peers.CLI
	)
	for attempt := 1; ; attempt++ {
		tr, wantSum, wantTree = sendOurs(t, ctx, newClient(t, srv, relay, log), fx, pc, prog)
		dir = t.TempDir()
		cli = peers.Start(t, dir, nil, "y\n", "wormhole-william", "receive", "--relay-url", srv.MailboxURL, "--hide-progress", tr.Code())
		err := tr.Wait()
		cerr := cli.Wait(ctx)
		if err == nil && cerr == nil {
			break
		}
		if williamPakeBug(t, attempt, err, dir) {
			log, prog = &logBuf{}, &progressLog{}
			continue
		}
		t.Fatalf("our send: %v; william receive: %v\nwilliam:\n%s\nours:\n%s", err, cerr, cli.Output(), log)
	}
	switch pc.kind {
	case wormhole.Text:
		if !strings.Contains(cli.Output(), xferText) {
			t.Fatalf("william did not print the text:\n%s", cli.Output())
		}
		return
	case wormhole.File:
		checkReceived(t, filepath.Join(dir, "payload.bin"), pc, wantSum, nil)
	case wormhole.Directory:
		checkReceived(t, filepath.Join(dir, filepath.Base(fx.tree)), pc, "", williamTree(wantTree))
	}
	prog.check(t, progressTotal(pc, tr))
	checkPath(t, pc, relay, srv, log, "", before, true)
}

func receiveFromWilliam(t *testing.T, srv *peers.Servers, fx *fixtures, pc payloadCase, relay bool) {
	ctx := xferCtx(t, 5*time.Minute)
	log := &logBuf{}
	before := len(relayUsage(t, srv))
	args := []string{"send", "--relay-url", srv.MailboxURL, "--hide-progress"}
	args, srcDir, wantSum, wantTree := cliSendArgs(t, fx, pc, args)
	var (
		offer *wormhole.Offer
		path  string
		out   string
		prog  *progressLog
	)
	for attempt := 1; ; attempt++ {
		cli := peers.Start(t, srcDir, nil, "", "wormhole-william", args...)
		code := cli.Code(t, codeWait)
		out = t.TempDir()
		prog = &progressLog{}
		var err error
		offer, path, err = newClient(t, srv, relay, log).ReceiveToDir(ctx, code, out, wormhole.AcceptOptions{Progress: prog.fn})
		cerr := cli.Wait(ctx)
		if err == nil && cerr == nil {
			break
		}
		if williamPakeBug(t, attempt, err, out) {
			log = &logBuf{}
			continue
		}
		if relay && attempt < 4 && strings.Contains(cli.Output(), williamRelayBug) {
			// The known wormhole-william sender race (peers/README.md):
			// it closed its own relay connection. Our receiver holds its
			// relay handshake so that this should not happen (core/transit
			// Race; 0 of 32 on a loaded machine); the retry stays for
			// the odd scheduling that still lets it through. If that cut the data
			// short our side must have failed cleanly, leaving nothing
			// behind; if it only lost our ack, we have it all.
			if err != nil {
				checkEmpty(t, out)
			}
			t.Logf("attempt %d hit the wormhole-william relay race (%v); retrying", attempt, err)
			log = &logBuf{}
			before = len(relayUsage(t, srv))
			continue
		}
		t.Fatalf("our receive: %v; william send: %v\nwilliam:\n%s\nours:\n%s", err, cerr, cli.Output(), log)
	}
	if pc.kind == wormhole.Text {
		if offer.Text != xferText {
			t.Fatalf("text %q, want %q", offer.Text, xferText)
		}
		return
	}
	checkReceived(t, path, pc, wantSum, wantTree)
	checkOnly(t, out, filepath.Base(path))
	prog.check(t, offer.Size)
	checkPath(t, pc, relay, srv, log, "", before, true)
}

// williamPakeBug reports whether a failed session with wormhole-william is
// its SPAKE2 library's encoding bug, and allows two retries for it. Debian's
// gospake2 (ed25519group/affine.go, Compress) encodes points with an unpadded
// big.Int.Bytes(), so when the top byte is zero (about 1 session in 128) its
// message or its transcript is one byte short and it derives another key:
// both sides then see a "wrong code". Ours matches python-spake2 on
// thousands of random exchanges (core/spake2 TestInteropPython), and Python
// fails with wormhole-william the same way. A retry must leave nothing behind.
func williamPakeBug(t *testing.T, attempt int, err error, out string) bool {
	t.Helper()
	if attempt >= 3 || !errors.Is(err, wormhole.ErrWrongCode) {
		return false
	}
	checkEmpty(t, out)
	t.Logf("attempt %d hit wormhole-william's SPAKE2 encoding bug (%v); retrying", attempt, err)
	return true
}

// williamRelayBug is how wormhole-william 1.0.6's sender reports the race
// in which it closes its own winning relay connection.
const williamRelayBug = "use of closed network connection"

// progressTotal is the byte count a send's progress must end at.
func progressTotal(pc payloadCase, tr *wormhole.Transfer) int64 {
	if pc.kind == wormhole.File {
		return pc.size
	}
	return tr.Size()
}

// checkOnly asserts dir holds exactly name: no temporary file left over.
func checkOnly(t *testing.T, dir, name string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != name {
		t.Fatalf("%s holds %q, want only %q", dir, names, name)
	}
}

// TestInteropWrongCode: a mistyped code fails on both sides with an error
// that says so, and no file is written anywhere.
func TestInteropWrongCode(t *testing.T) {
	peers.RequireNetns(t)
	peers.Need(t, "wormhole")
	srv := peers.StartReference(t, 0, 0)
	fx := newFixtures(t)
	src, _ := fx.file(t, 4096)

	t.Run("we send", func(t *testing.T) {
		ctx := xferCtx(t, 2*time.Minute)
		log := &logBuf{}
		f, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		tr, err := newClient(t, srv, true, log).SendFile(ctx, "payload.bin", 4096, f, wormhole.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		nameplate, _, _ := strings.Cut(tr.Code(), "-")
		dir := t.TempDir()
		cli := peers.Start(t, dir, nil, "", "wormhole", "--relay-url", srv.MailboxURL, "--transit-helper", srv.TransitHelper(),
			"receive", "--hide-progress", "--accept-file", "-o", "out", nameplate+"-wrong-words")
		err = tr.Wait()
		cerr := cli.Wait(ctx)
		if !errors.Is(err, wormhole.ErrWrongCode) || !strings.Contains(err.Error(), "wrong code") {
			t.Errorf("our send: %v, want ErrWrongCode\n%s", err, log)
		}
		if cerr == nil || !strings.Contains(strings.ToLower(cli.Output()), "key confirmation failed") {
			t.Errorf("python receive: exit %v, output:\n%s", cerr, cli.Output())
		}
		checkEmpty(t, dir)
	})
	t.Run("we receive", func(t *testing.T) {
		ctx := xferCtx(t, 2*time.Minute)
		log := &logBuf{}
		cli := peers.Start(t, filepath.Dir(src), nil, "", "wormhole", "--relay-url", srv.MailboxURL, "--transit-helper", srv.TransitHelper(),
			"send", "--hide-progress", "--code", "41-right-words", filepath.Base(src))
		cli.Code(t, codeWait)
		out := t.TempDir()
		_, _, err := newClient(t, srv, true, log).ReceiveToDir(ctx, "41-wrong-words", out, wormhole.AcceptOptions{})
		cerr := cli.Wait(ctx)
		if !errors.Is(err, wormhole.ErrWrongCode) || !strings.Contains(err.Error(), "wrong code") {
			t.Errorf("our receive: %v, want ErrWrongCode\n%s", err, log)
		}
		if cerr == nil || !strings.Contains(strings.ToLower(cli.Output()), "key confirmation failed") {
			t.Errorf("python send: exit %v, output:\n%s", cerr, cli.Output())
		}
		checkEmpty(t, out)
	})
}

func checkEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("%s is not empty: %v", dir, ents)
	}
}

// TestInteropRejected: declining an offer. Python and wormhole-william
// receivers answering "n" make our sender fail with ErrRejected; our
// Reject makes the Python sender fail with "transfer rejected".
func TestInteropRejected(t *testing.T) {
	peers.RequireNetns(t)
	peers.Need(t, "wormhole", "wormhole-william")
	srv := peers.StartReference(t, 0, 0)
	fx := newFixtures(t)
	src, _ := fx.file(t, 4096)

	for _, cliName := range []string{"wormhole", "wormhole-william"} {
		t.Run(cliName+" declines", func(t *testing.T) {
			ctx := xferCtx(t, 2*time.Minute)
			log := &logBuf{}
			f, err := os.Open(src)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			tr, err := newClient(t, srv, true, log).SendFile(ctx, "payload.bin", 4096, f, wormhole.SendOptions{})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var cli *peers.CLI
			if cliName == "wormhole" {
				cli = peers.Start(t, dir, nil, "n\n", "wormhole", "--relay-url", srv.MailboxURL, "--transit-helper", srv.TransitHelper(),
					"receive", "--hide-progress", tr.Code())
			} else {
				cli = peers.Start(t, dir, nil, "n\n", "wormhole-william", "receive", "--relay-url", srv.MailboxURL, "--hide-progress", tr.Code())
			}
			err = tr.Wait()
			_ = cli.Wait(ctx) // declining is not an error for every CLI
			if !errors.Is(err, wormhole.ErrRejected) || !strings.Contains(err.Error(), "transfer rejected") {
				t.Fatalf("our send: %v, want ErrRejected\n%s output:\n%s", err, cliName, cli.Output())
			}
			checkEmpty(t, dir)
		})
	}
	t.Run("we decline", func(t *testing.T) {
		ctx := xferCtx(t, 2*time.Minute)
		cli := peers.Start(t, filepath.Dir(src), nil, "", "wormhole", "--relay-url", srv.MailboxURL, "--transit-helper", srv.TransitHelper(),
			"send", "--hide-progress", filepath.Base(src))
		code := cli.Code(t, codeWait)
		offer, err := newClient(t, srv, true, &logBuf{}).Receive(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		if offer.Kind != wormhole.File || offer.Name != filepath.Base(src) || offer.Size != 4096 {
			t.Fatalf("offer %+v", offer)
		}
		if err := offer.Reject(ctx); err != nil {
			t.Fatal(err)
		}
		if err := offer.Accept(ctx, nil, wormhole.AcceptOptions{}); err == nil {
			t.Fatal("Accept after Reject succeeded")
		}
		cerr := cli.Wait(ctx)
		if cerr == nil || !strings.Contains(cli.Output(), "transfer rejected") {
			t.Fatalf("python send: exit %v, output:\n%s", cerr, cli.Output())
		}
	})
}

// TestInteropCancel: cancelling our side in the middle of a transfer makes
// the Python CLI fail promptly (an error, not a hang), and our receiver
// leaves no file behind.
func TestInteropCancel(t *testing.T) {
	peers.RequireNetns(t)
	peers.Need(t, "wormhole")
	srv := peers.StartReference(t, 0, 0)
	fx := newFixtures(t)
	const size = 200 << 20
	src, _ := fx.file(t, size)
	cancelAfter := func(cancel context.CancelFunc) func(n, total int64) {
		return func(n, total int64) {
			if n >= 8<<20 {
				cancel()
			}
		}
	}

	t.Run("we cancel sending", func(t *testing.T) {
		ctx := xferCtx(t, 2*time.Minute)
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		f, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		tr, err := newClient(t, srv, true, &logBuf{}).SendFile(sctx, "payload.bin", size, f, wormhole.SendOptions{Progress: cancelAfter(cancel)})
		if err != nil {
			t.Fatal(err)
		}
		cli := peers.Start(t, t.TempDir(), nil, "", "wormhole", "--relay-url", srv.MailboxURL, "--transit-helper", srv.TransitHelper(),
			"receive", "--hide-progress", "--no-listen", "--accept-file", "-o", "out", tr.Code())
		if err := tr.Wait(); !errors.Is(err, context.Canceled) {
			t.Fatalf("our send: %v", err)
		}
		start := time.Now()
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		defer wcancel()
		cerr := cli.Wait(wctx)
		if cerr == nil || errors.Is(cerr, context.DeadlineExceeded) {
			t.Fatalf("python receive after our cancel: %v (after %v)\n%s", cerr, time.Since(start), cli.Output())
		}
		t.Logf("python receiver failed %v after our cancel: %v", time.Since(start).Round(time.Millisecond), lastLine(cli.Output()))
	})
	t.Run("we cancel receiving", func(t *testing.T) {
		ctx := xferCtx(t, 2*time.Minute)
		cli := peers.Start(t, filepath.Dir(src), nil, "", "wormhole", "--relay-url", srv.MailboxURL, "--transit-helper", srv.TransitHelper(),
			"send", "--hide-progress", "--no-listen", filepath.Base(src))
		code := cli.Code(t, codeWait)
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		out := t.TempDir()
		_, _, err := newClient(t, srv, true, &logBuf{}).ReceiveToDir(rctx, code, out, wormhole.AcceptOptions{Progress: cancelAfter(cancel)})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("our receive: %v", err)
		}
		checkEmpty(t, out)
		start := time.Now()
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		defer wcancel()
		cerr := cli.Wait(wctx)
		if cerr == nil || errors.Is(cerr, context.DeadlineExceeded) {
			t.Fatalf("python send after our cancel: %v (after %v)\n%s", cerr, time.Since(start), cli.Output())
		}
		t.Logf("python sender failed %v after our cancel: %v", time.Since(start).Round(time.Millisecond), lastLine(cli.Output()))
	})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
