// Command relay is the self-hosted wasmhole server: one static binary that
// serves everything a magic-wormhole client needs.
//
//	relay serve --http 127.0.0.1:4000 --transit-tcp 127.0.0.1:4001 --db relay.sqlite --site ./site
//	relay admin stats
//
// On the HTTP port: the mailbox (rendezvous) server at ws://HOST/v1, which
// stock CLIs use as --relay-url (relay/mailboxws over the transport-free
// relay/mailbox machine, state in relay/store); the transit relay for
// browsers at ws://HOST/transit; /healthz; Prometheus /metrics; and
// optionally a static site with strict security headers. On the TCP port:
// the transit relay for stock CLIs (relay/transitnet over the transport-free
// relay/transit machine), pairing TCP and WebSocket clients by token.
//
// An operator API speaks JSON-RPC 2.0 on a Unix socket (relay/admin);
// `relay admin METHOD` calls it. SIGTERM stops gracefully: listeners close,
// mailbox state is committed, connections get "going away"; any task that
// fails stops all the others. See README.md for every flag.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/wasmhole/wasmhole/relay/admin"
)

func main() {
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

const usage = `usage:
  relay serve [flags]            run the server (relay serve -h lists the flags)
  relay admin METHOD [PARAMS]    call the admin API (relay admin -h for details)
  relay version                  print the version
`

func run(args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(args[1:], lookup, stderr)
	case "admin":
		return runAdmin(args[1:], lookup, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "relay", version())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "relay: unknown command %q\n%s", args[0], usage)
	return 2
}

// version is the module version, or the VCS revision of a local build.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && (v == "" || v == "(devel)") {
			v = s.Value
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return v
}

const adminUsage = `usage: relay admin [--admin-socket PATH] [--timeout D] METHOD [PARAMS]

Methods: stats, set_motd, list_mailboxes, close_mailbox, reload_config, shutdown.
list_mailboxes without params fetches the list page by page and prints it
as one JSON document, however long it is.
PARAMS is one JSON object or array, or key=value pairs (values are strings
unless they start with {, [ or " and parse as JSON), or one bare value (sent
as a one-element array). Examples:

  relay admin stats
  relay admin set_motd motd='maintenance at 18:00'
  relay admin set_motd 'maintenance at 18:00'
  relay admin close_mailbox id=og5rg7k5evsva
  relay admin close_mailbox '{"id":"og5rg7k5evsva"}'

The result is printed as JSON; a JSON-RPC error exits with status 1.
`

func runAdmin(args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("relay admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sock := "relay-admin.sock"
	if v, ok := lookup(envName("admin-socket")); ok {
		sock = v
	}
	fs.StringVar(&sock, "admin-socket", sock, "admin socket path (env RELAY_ADMIN_SOCKET)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	fs.Usage = func() { fmt.Fprint(stderr, adminUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return 2
	}
	params, err := adminParams(fs.Args()[1:])
	if err != nil {
		fmt.Fprintln(stderr, "relay admin:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if fs.Arg(0) == "list_mailboxes" && params == nil {
		// Paged, however long the list.
		if err := streamMailboxes(ctx, sock, 1000, stdout); err != nil {
			fmt.Fprintln(stderr, "\nrelay admin:", err)
			return 1
		}
		return 0
	}
	res, err := admin.Call(ctx, sock, fs.Arg(0), params)
	if err != nil {
		fmt.Fprintln(stderr, "relay admin:", err)
		return 1
	}
	var pretty any
	if err := json.Unmarshal(res, &pretty); err == nil {
		res, _ = json.MarshalIndent(pretty, "", "  ")
	}
	fmt.Fprintln(stdout, string(res))
	return 0
}

// adminParams turns the command-line words after METHOD into params.
func adminParams(words []string) (any, error) {
	if len(words) == 0 {
		return nil, nil
	}
	if len(words) == 1 {
		w := strings.TrimSpace(words[0])
		if strings.HasPrefix(w, "{") || strings.HasPrefix(w, "[") {
			if !json.Valid([]byte(w)) {
				return nil, fmt.Errorf("params %q is not valid JSON", w)
			}
			return json.RawMessage(w), nil
		}
		if !strings.Contains(w, "=") {
			return []string{words[0]}, nil
		}
	}
	obj := map[string]any{}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("param %q: want key=value", w)
		}
		// JSON only when it clearly is (object, array, quoted string), so
		// that motd=42 stays the string "42".
		var j any
		if strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") || strings.HasPrefix(v, `"`) {
			if err := json.Unmarshal([]byte(v), &j); err != nil {
				return nil, fmt.Errorf("param %q: %w", k, err)
			}
			obj[k] = j
		} else {
			obj[k] = v
		}
	}
	return obj, nil
}
