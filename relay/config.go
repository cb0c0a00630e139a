package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wasmhole/wasmhole/relay/clientip"
	"github.com/wasmhole/wasmhole/relay/mailbox"
	"github.com/wasmhole/wasmhole/relay/mailboxws"
	"github.com/wasmhole/wasmhole/relay/transitnet"
)

// Config is everything `relay serve` can be told. Each field is a flag with
// an environment twin (RELAY_ + the flag name in upper case with "-"
// turned into "_") and may also come from the --config file. Precedence:
// command line, then environment, then config file, then default.
type Config struct {
	HTTP        string
	TransitTCP  string
	DB          string
	DBSync      string
	Site        string
	SiteCSP     string
	AdminSocket string
	MOTD        string
	ConfigFile  string

	Expiry          time.Duration
	PruneInterval   time.Duration
	MaxMessageSize  int64
	MaxMailboxBytes int64
	IdleTimeout     time.Duration

	MaxMailboxMessages  int
	MaxClientBytes      int64
	MaxTotalBytes       int64
	MaxListenersPerSide int

	PerIPConns    int
	PerIPRate     float64
	PerIPBurst    int
	LimitLoopback bool
	RealIPHeader  string
	// TrustedProxies: comma-separated CIDRs whose RealIPHeader and
	// X-Forwarded-Proto are believed.
	TrustedProxies string

	TransitUnpairedTimeout time.Duration
	TransitIdleTimeout     time.Duration
	TransitMaxBytes        int64
	// TransitUpstream ("tcp:HOST:PORT") turns /transit into a bridge to
	// that TCP transit relay instead of the local one.
	TransitUpstream string
	// AdvertiseTransitTCP overrides the TCP transit address /relay.json
	// gives the page ("tcp:HOST:PORT").
	AdvertiseTransitTCP string

	HashcashBits     int
	AdvertiseVersion string
	SignalError      string
	DisallowList     bool

	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	GCPercent       string

	// CPUProfile is a debugging aid for benchmarks (scripts/bench-sessions.sh),
	// not a setting: a hidden flag without environment twin, config-file
	// key or README row. The profile covers the whole run and is written at
	// a clean exit.
	CPUProfile string
}

// DefaultCSP is the Content-Security-Policy of the static site: only our
// own scripts, WebAssembly compilation allowed ('wasm-unsafe-eval', not
// 'unsafe-eval'), connections to this origin (ws/wss included), no framing.
const DefaultCSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
	"img-src 'self' data: blob:; connect-src 'self'; worker-src 'self' blob:; manifest-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// flagSpec documents one flag; the README table is checked against it.
type flagSpec struct {
	name, usage string
	reload      bool // applied by reload_config without a restart
}

// envName is the environment twin of a flag.
func envName(flag string) string {
	return "RELAY_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// serveFlags registers the serve flags on fs, bound to c, and returns their
// specs in registration order.
func serveFlags(fs *flag.FlagSet, c *Config) []flagSpec {
	var specs []flagSpec
	str := func(p *string, name, def, usage string, reload bool) {
		fs.StringVar(p, name, def, usage)
		specs = append(specs, flagSpec{name, usage, reload})
	}
	dur := func(p *time.Duration, name string, def time.Duration, usage string, reload bool) {
		fs.DurationVar(p, name, def, usage)
		specs = append(specs, flagSpec{name, usage, reload})
	}
	i64 := func(p *int64, name string, def int64, usage string, reload bool) {
		fs.Int64Var(p, name, def, usage)
		specs = append(specs, flagSpec{name, usage, reload})
	}
	integer := func(p *int, name string, def int, usage string, reload bool) {
		fs.IntVar(p, name, def, usage)
		specs = append(specs, flagSpec{name, usage, reload})
	}
	boolean := func(p *bool, name string, def bool, usage string, reload bool) {
		fs.BoolVar(p, name, def, usage)
		specs = append(specs, flagSpec{name, usage, reload})
	}
	str(&c.HTTP, "http", ":4000", "HTTP listen address: mailbox at /v1, WebSocket transit at /transit, /healthz, /metrics and the site", false)
	str(&c.TransitTCP, "transit-tcp", ":4001", `raw TCP transit relay listen address ("" disables it)`, false)
	str(&c.DB, "db", "relay.sqlite", `SQLite database file for mailbox state; ":memory:" keeps it in memory (lost on restart)`, false)
	str(&c.DBSync, "db-sync", "full", `when a commit is on disk: "full" (replies wait for the flush of the WAL, one per group of commits: survives a power cut) or "normal" (SQLite WAL synchronous=NORMAL: survives a crash or kill -9 of the relay, a power cut may lose the last commits)`, false)
	str(&c.Site, "site", "", "directory with the static site (index.html, web/, the wasm) served at /; empty serves only a plain-text banner", false)
	str(&c.SiteCSP, "site-csp", DefaultCSP, "Content-Security-Policy header of the static site", true)
	str(&c.AdminSocket, "admin-socket", "relay-admin.sock", `Unix socket of the JSON-RPC admin API, mode 0600 ("" disables it; never TCP)`, false)
	str(&c.MOTD, "motd", "", "message of the day shown by clients", true)
	str(&c.ConfigFile, "config", "", "file of flag=value lines (# comments), re-read by reload_config and SIGHUP", false)
	dur(&c.Expiry, "expiry", 11*time.Minute, "delete mailboxes untouched for this long", false)
	dur(&c.PruneInterval, "prune-interval", 5*time.Minute, "how often to look for expired mailboxes", false)
	i64(&c.MaxMessageSize, "max-message-size", mailboxws.DefaultMaxMessageSize, "largest mailbox WebSocket message in bytes; bigger ones get an error", false)
	i64(&c.MaxMailboxBytes, "max-mailbox-bytes", mailbox.DefaultMaxMailboxBytes, "most bytes stored per mailbox; a message counts its body, phase, id and side plus 256 (0: unlimited)", false)
	integer(&c.MaxMailboxMessages, "max-mailbox-messages", mailbox.DefaultMaxMailboxMessages, "most messages stored per mailbox (0: unlimited)", false)
	i64(&c.MaxClientBytes, "max-client-bytes", mailbox.DefaultMaxClientBytes, "most bytes stored for messages added from one client address (IPv6 per /64; loopback exempt unless --limit-loopback) and not yet deleted (0: unlimited)", false)
	i64(&c.MaxTotalBytes, "max-total-bytes", mailbox.DefaultMaxTotalBytes, "most bytes stored in all mailboxes together (0: unlimited)", false)
	integer(&c.MaxListenersPerSide, "max-listeners-per-side", mailbox.DefaultMaxListenersPerSide, "most connections that may have one side of a mailbox open at once (0: unlimited)", false)
	dur(&c.IdleTimeout, "idle-timeout", mailboxws.DefaultIdleTimeout, "close mailbox connections silent this long (they are pinged first; 0: never)", false)
	integer(&c.PerIPConns, "per-ip-conns", mailboxws.DefaultPerIPConns, "open connections per client address, for the mailbox and for transit each (IPv6 per /64; 0: unlimited)", false)
	f64 := func(p *float64, name string, def float64, usage string, reload bool) {
		fs.Float64Var(p, name, def, usage)
		specs = append(specs, flagSpec{name, usage, reload})
	}
	f64(&c.PerIPRate, "per-ip-rate", mailboxws.DefaultPerIPRate, "new connections per second per client address, mailbox and transit each (0: unlimited)", false)
	integer(&c.PerIPBurst, "per-ip-burst", mailboxws.DefaultPerIPBurst, "connections a client address may open in a burst before per-ip-rate applies", false)
	boolean(&c.LimitLoopback, "limit-loopback", false, "apply the per-IP limits to 127.0.0.0/8 and ::1 too (exempt by default, so local benchmarks and a local proxy are not throttled)", false)
	str(&c.RealIPHeader, "real-ip-header", "", `header carrying the client address behind a trusted reverse proxy, e.g. "X-Real-IP" or "X-Forwarded-For" (a list is read from the right, skipping --trusted-proxies); mailbox and /transit alike`, false)
	str(&c.TrustedProxies, "trusted-proxies", "127.0.0.0/8,::1", "comma-separated CIDRs or addresses of reverse proxies whose --real-ip-header and X-Forwarded-Proto are believed (an address from a header is never exempt as loopback)", false)
	dur(&c.TransitUnpairedTimeout, "transit-unpaired-timeout", transitnet.DefaultUnpairedTimeout, "close transit connections that find no partner (or send no handshake line) within this time (0: wait for a partner forever; the line must still come within 2m)", true)
	dur(&c.TransitIdleTimeout, "transit-idle-timeout", transitnet.DefaultIdleTimeout, "close transit pairs that relay no byte for this long (0: never)", true)
	i64(&c.TransitMaxBytes, "transit-max-bytes", 0, "most bytes relayed per transit pair, both directions (0: no cap; capped pairs do not use splice)", true)
	str(&c.TransitUpstream, "transit-upstream", "", `bridge mode, "tcp:HOST:PORT": relay each WebSocket /transit client over its own TCP connection to that transit relay (e.g. the public tcp:transit.magic-wormhole.io:4001) instead of pairing it here`, false)
	str(&c.AdvertiseTransitTCP, "advertise-transit-tcp", "", `TCP transit address that /relay.json gives the page, "tcp:HOST:PORT" (default: the request's host with the --transit-tcp port, or --transit-upstream)`, false)
	integer(&c.HashcashBits, "hashcash-bits", 0, "require a hashcash stamp of this many bits before bind (0: off; Python CLIs cannot do it)", false)
	str(&c.AdvertiseVersion, "advertise-version", "", `welcome "current_cli_version" (clients older than this nag)`, false)
	str(&c.SignalError, "signal-error", "", `welcome "error": clients show it and stop (maintenance mode)`, false)
	boolean(&c.DisallowList, "disallow-list", false, `answer "list" with no nameplates`, false)
	str(&c.LogLevel, "log-level", "info", "debug, info, warn or error", true)
	str(&c.LogFormat, "log-format", "json", "json or text (slog handlers)", false)
	dur(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long SIGTERM waits for state to flush and connections to close", false)
	str(&c.GCPercent, "gc-percent", "auto", `Go collector target (as GOGC): "auto" allows as much garbage as the last second allocated, at most 16 MiB and between 400% (small busy heaps) and 25% (quiet or big heaps: many idle connections) of the live heap, unless GOGC or GOMEMLIMIT is set; a number 1..10000 is fixed and overrides GOGC`, false)
	return specs
}

// loaded is a parsed configuration with each setting's effective value as
// text, which reload_config compares.
type loaded struct {
	cfg    *Config
	values map[string]string
	specs  []flagSpec
}

// loadConfig builds the serve configuration from args, the environment
// (lookup is os.LookupEnv outside tests; an empty variable counts as set, so
// RELAY_TRANSIT_TCP= disables the TCP port) and the config file.
func loadConfig(args []string, lookup func(string) (string, bool), stderr io.Writer) (*loaded, error) {
	c := &Config{}
	fs := flag.NewFlagSet("relay serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	specs := serveFlags(fs, c)
	// The listed flags, for the usage text and the config file, taken
	// before the hidden one joins fs.
	listed := flag.NewFlagSet("relay serve", flag.ContinueOnError)
	listed.SetOutput(stderr)
	fs.VisitAll(func(f *flag.Flag) { listed.Var(f.Value, f.Name, f.Usage) })
	// Not in specs: no environment twin, no config-file key, not listed.
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (debugging)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: relay serve [flags]\n\nEvery flag also reads its environment twin, e.g. --http from RELAY_HTTP.\n\n")
		listed.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("relay serve: unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, sp := range specs {
		if set[sp.name] {
			continue
		}
		if v, ok := lookup(envName(sp.name)); ok {
			if err := fs.Set(sp.name, v); err != nil {
				return nil, fmt.Errorf("%s=%q: %w", envName(sp.name), v, err)
			}
			set[sp.name] = true
		}
	}
	if c.ConfigFile != "" {
		kv, err := readConfigFile(c.ConfigFile)
		if err != nil {
			return nil, err
		}
		for _, k := range sortedKeys(kv) {
			if k == "config" {
				return nil, fmt.Errorf("%s: \"config\" cannot be set from the config file", c.ConfigFile)
			}
			if listed.Lookup(k) == nil {
				return nil, fmt.Errorf("%s: unknown setting %q", c.ConfigFile, k)
			}
			if set[k] {
				continue
			}
			if err := fs.Set(k, kv[k]); err != nil {
				return nil, fmt.Errorf("%s: %s=%q: %w", c.ConfigFile, k, kv[k], err)
			}
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	values := map[string]string{}
	for _, sp := range specs {
		values[sp.name] = fs.Lookup(sp.name).Value.String()
	}
	return &loaded{cfg: c, values: values, specs: specs}, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// readConfigFile parses "name = value" lines; a value may be double-quoted
// (Go syntax) to keep spaces at its ends or to use escapes.
func readConfigFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want name = value", path, n)
		}
		k, v = strings.TrimPrefix(strings.TrimSpace(k), "--"), strings.TrimSpace(v)
		if strings.HasPrefix(v, `"`) {
			uq, err := strconv.Unquote(v)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: bad quoted value: %w", path, n, err)
			}
			v = uq
		}
		kv[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	return kv, nil
}

// ErrConfig marks invalid settings.
var ErrConfig = errors.New("invalid configuration")

func (c *Config) validate() error {
	if c.HTTP == "" {
		return fmt.Errorf("%w: --http must not be empty", ErrConfig)
	}
	if c.DB == "" {
		return fmt.Errorf("%w: --db must not be empty (use :memory: for no persistence)", ErrConfig)
	}
	if c.AdminSocket != "" && c.DB != ":memory:" && sameFileName(c.AdminSocket, c.DB) {
		return fmt.Errorf("%w: --admin-socket and --db are the same file %q", ErrConfig, c.DB)
	}
	if c.DBSync != "full" && c.DBSync != "normal" {
		return fmt.Errorf("%w: --db-sync must be full or normal, not %q", ErrConfig, c.DBSync)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return fmt.Errorf("%w: --log-format must be json or text", ErrConfig)
	}
	if c.PerIPConns < 0 || c.PerIPRate < 0 || c.PerIPBurst < 0 || c.MaxMailboxBytes < 0 || c.IdleTimeout < 0 ||
		c.MaxMailboxMessages < 0 || c.MaxClientBytes < 0 || c.MaxTotalBytes < 0 || c.MaxListenersPerSide < 0 {
		return fmt.Errorf("%w: limits and timeouts must not be negative (0 means none)", ErrConfig)
	}
	if c.Expiry <= 0 || c.PruneInterval <= 0 {
		return fmt.Errorf("%w: --expiry and --prune-interval must be positive", ErrConfig)
	}
	if c.MaxMessageSize <= 0 {
		return fmt.Errorf("%w: --max-message-size must be positive", ErrConfig)
	}
	if c.TransitUnpairedTimeout < 0 || c.TransitIdleTimeout < 0 || c.TransitMaxBytes < 0 {
		return fmt.Errorf("%w: transit timeouts and --transit-max-bytes must not be negative", ErrConfig)
	}
	if _, err := clientip.ParsePrefixes(c.TrustedProxies); err != nil {
		return fmt.Errorf("%w: --trusted-proxies: %w", ErrConfig, err)
	}
	if c.TransitUpstream != "" {
		if _, err := parseTCPHint(c.TransitUpstream); err != nil {
			return fmt.Errorf("%w: --transit-upstream: %w", ErrConfig, err)
		}
	}
	if c.AdvertiseTransitTCP != "" {
		if _, err := parseTCPHint(c.AdvertiseTransitTCP); err != nil {
			return fmt.Errorf("%w: --advertise-transit-tcp: %w", ErrConfig, err)
		}
	}
	if c.HashcashBits < 0 || c.HashcashBits > 40 {
		return fmt.Errorf("%w: --hashcash-bits must be 0..40", ErrConfig)
	}
	if _, err := planGC(c.GCPercent, func(string) (string, bool) { return "", false }); err != nil {
		return err
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("%w: --shutdown-timeout must be positive", ErrConfig)
	}
	return nil
}

// sameFileName reports whether two paths name the same file (absolute
// and relative spellings included); admin.Listen also refuses to replace
// anything but a socket, which covers links.
func sameFileName(a, b string) bool {
	a, errA := filepath.Abs(a)
	b, errB := filepath.Abs(b)
	return errA == nil && errB == nil && a == b
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%w: --log-level %q (want debug, info, warn or error)", ErrConfig, s)
}

// clientIP is how the mailbox and /transit find a request's client.
func (c *Config) clientIP() clientip.Resolver {
	trusted, _ := clientip.ParsePrefixes(c.TrustedProxies) // validated already
	return clientip.Resolver{Header: c.RealIPHeader, Trusted: trusted}
}

// errBadHint is wrapped by parseTCPHint's errors.
var errBadHint = errors.New(`want "tcp:HOST:PORT"`)

// parseTCPHint checks a "tcp:HOST:PORT" address and returns "HOST:PORT".
func parseTCPHint(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, "tcp:")
	if !ok {
		return "", fmt.Errorf("%q: %w", s, errBadHint)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil || host == "" {
		return "", fmt.Errorf("%q: %w", s, errBadHint)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: port: %w", s, errBadHint)
	}
	return rest, nil
}

// transitLimits maps the configuration to transitnet's reloadable limits.
func (c *Config) transitLimits() transitnet.Limits {
	return transitnet.Limits{
		UnpairedTimeout: c.TransitUnpairedTimeout,
		IdleTimeout:     c.TransitIdleTimeout,
		MaxBytesPerPair: c.TransitMaxBytes,
		PerIPConns:      c.PerIPConns,
		PerIPRate:       c.PerIPRate,
		PerIPBurst:      c.PerIPBurst,
		ExemptLoopback:  !c.LimitLoopback,
	}
}
