package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wasmhole/wasmhole/relay/admin"
	"github.com/wasmhole/wasmhole/relay/mailboxws"
	"github.com/wasmhole/wasmhole/relay/store"
	"github.com/wasmhole/wasmhole/relay/transitnet"
)

// errStop is the cause of a requested shutdown (SIGTERM, SIGINT or the
// admin "shutdown" method); the process then exits 0.
var errStop = errors.New("shutdown requested")

// relay is one running `relay serve`.
type relay struct {
	args   []string
	lookup func(string) (string, bool)
	stderr io.Writer

	mu   sync.Mutex // guards conf
	conf *loaded

	log     logr.Logger
	level   *slog.LevelVar
	started time.Time
	healthy atomic.Bool

	store   store.Store
	mbox    *mailboxws.Server
	transit *transitnet.Server
	site    *site
	reg     *prometheus.Registry
	http    *http.Server
	group   *group
}

// runServe is `relay serve`; it returns the process exit code.
func runServe(args []string, lookup func(string) (string, bool), stderr io.Writer) int {
	conf, err := loadConfig(args, lookup, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "relay serve:", err)
		return 2
	}
	r := &relay{args: args, lookup: lookup, stderr: stderr, conf: conf, started: time.Now()}
	r.log, r.level = newLogger(conf.cfg, stderr)
	// validate accepted the flag, so only the environment decides here.
	if gc, err := planGC(conf.cfg.GCPercent, lookup); err == nil {
		restore, changed := gc.apply()
		// runServe also runs inside tests: leave their process as found.
		defer restore()
		if changed {
			r.log.V(1).Info("gc target set", "gc_percent", gc.percent, "auto", gc.auto, "reason", gc.why)
		} else {
			r.log.V(1).Info("gc target left to the runtime", "reason", gc.why)
		}
	}
	if conf.cfg.CPUProfile != "" {
		stop, err := startCPUProfile(conf.cfg.CPUProfile)
		if err != nil {
			fmt.Fprintln(stderr, "relay serve: --cpuprofile:", err)
			return 2
		}
		defer stop()
	}
	if err := r.run(); err != nil {
		r.log.Error(err, "relay stopped")
		return 1
	}
	r.log.Info("relay stopped")
	return 0
}

// startCPUProfile profiles the process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func newLogger(c *Config, w io.Writer) (logr.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	lv, _ := parseLevel(c.LogLevel) // validated already
	level.Set(lv)
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if c.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return logr.FromSlogHandler(debugLevels{h}), level
}

// debugLevels prints logr's V(1), V(2)... (slog levels -1, -2...) as
// DEBUG rather than "DEBUG+3"; filtering still uses the real level.
type debugLevels struct{ slog.Handler }

func (d debugLevels) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelInfo && r.Level > slog.LevelDebug {
		r.Level = slog.LevelDebug
	}
	return d.Handler.Handle(ctx, r)
}

func (d debugLevels) WithAttrs(as []slog.Attr) slog.Handler {
	return debugLevels{d.Handler.WithAttrs(as)}
}

func (d debugLevels) WithGroup(name string) slog.Handler {
	return debugLevels{d.Handler.WithGroup(name)}
}

func (r *relay) cfg() *Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conf.cfg
}

// run sets everything up, serves until a stop is requested or a task
// fails, and shuts down gracefully.
func (r *relay) run() (err error) {
	c := r.cfg()
	if c.DB == ":memory:" {
		r.store = store.NewMemory()
	} else {
		db, err := store.OpenSQLiteWith(c.DB, store.SQLiteOptions{Synchronous: c.DBSync})
		if err != nil {
			return fmt.Errorf("open database %s: %w", c.DB, err)
		}
		r.store = db
	}
	defer func() {
		if cerr := r.store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close database: %w", cerr)
		}
	}()

	r.reg = prometheus.NewRegistry()
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r.mbox, err = mailboxws.New(mailboxws.Options{
		MOTD:             c.MOTD,
		AdvertiseVersion: c.AdvertiseVersion,
		SignalError:      c.SignalError,
		DisallowList:     c.DisallowList,
		Store:            r.store,
		Logger:           r.log.WithName("mailbox"),
		Registerer:       r.reg,
		MaxMessageSize:   c.MaxMessageSize,
		MaxMailboxBytes:  zeroMeansUnlimited(c.MaxMailboxBytes),
		PerIPConns:       int(zeroMeansUnlimited(int64(c.PerIPConns))),
		PerIPRate:        zeroRateMeansUnlimited(c.PerIPRate),
		PerIPBurst:       c.PerIPBurst,
		LimitLoopback:    c.LimitLoopback,
		RealIPHeader:     c.RealIPHeader,
		IdleTimeout:      time.Duration(zeroMeansUnlimited(int64(c.IdleTimeout))),
		Expiry:           c.Expiry,
		PruneInterval:    c.PruneInterval,
		Hashcash:         c.HashcashBits,

		// Storage caps ("0: unlimited", as above).
		MaxMailboxMessages:  int(zeroMeansUnlimited(int64(c.MaxMailboxMessages))),
		MaxClientBytes:      zeroMeansUnlimited(c.MaxClientBytes),
		MaxTotalBytes:       zeroMeansUnlimited(c.MaxTotalBytes),
		MaxListenersPerSide: int(zeroMeansUnlimited(int64(c.MaxListenersPerSide))),
	})
	if err != nil {
		return fmt.Errorf("mailbox server: %w", err)
	}
	r.transit, err = transitnet.New(transitnet.Options{
		Limits:     c.transitLimits(),
		Logger:     r.log.WithName("transit"),
		Registerer: r.reg,
	})
	if err != nil {
		return fmt.Errorf("transit relay: %w", err)
	}
	if c.Site != "" {
		if r.site, err = newSite(c.Site, c.SiteCSP); err != nil {
			return err
		}
		defer r.site.Close()
	}

	// Listen on everything before serving anything, so a taken port fails
	// the start instead of leaving a half-working relay.
	// No TCP keepalive on the HTTP port: mailbox connections have their
	// own pings and idle timeout, transit pairs theirs, and the four
	// setsockopt calls per accepted connection show in the session rate.
	httpLn, err := (&net.ListenConfig{KeepAlive: -1}).Listen(context.Background(), "tcp", c.HTTP)
	if err != nil {
		return fmt.Errorf("listen --http: %w", err)
	}
	defer httpLn.Close()
	var tcpLn net.Listener
	if c.TransitTCP != "" {
		if tcpLn, err = net.Listen("tcp", c.TransitTCP); err != nil {
			return fmt.Errorf("listen --transit-tcp: %w", err)
		}
		defer tcpLn.Close()
	}
	var adminLn net.Listener
	if c.AdminSocket != "" {
		if adminLn, err = admin.Listen(c.AdminSocket); err != nil {
			return fmt.Errorf("--admin-socket: %w", err)
		}
		defer adminLn.Close()
	}

	r.http = &http.Server{
		Handler:           r.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          log.New(logrWriter{r.log.WithName("http")}, "", 0),
	}
	r.healthy.Store(true)
	r.log.Info("relay serving", "http", httpLn.Addr().String(), "transit_tcp", addrOf(tcpLn),
		"admin_socket", c.AdminSocket, "db", c.DB, "site", c.Site)

	r.group = newGroup(context.Background())
	g := r.group
	g.Go("http", func(context.Context) error {
		if err := r.http.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if tcpLn != nil {
		g.Go("transit-tcp", func(ctx context.Context) error { return r.transit.ServeTCP(ctx, tcpLn) })
	}
	g.Go("mailbox", r.mbox.Run) // pruner and keepalive pings
	if adminLn != nil {
		adm := admin.NewServer(r.log.WithName("admin"))
		r.adminMethods(adm)
		g.Go("admin", func(ctx context.Context) error { return adm.Serve(ctx, adminLn) })
	}
	g.Go("signals", r.signals)
	g.Go("shutdown", func(ctx context.Context) error {
		<-ctx.Done()
		return r.shutdown()
	})
	cause := g.Wait()
	if errors.Is(cause, errStop) {
		return nil
	}
	return cause
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// zeroMeansUnlimited maps the command's "0: unlimited" to mailboxws's
// "negative: unlimited" (where 0 selects its default).
func zeroMeansUnlimited(v int64) int64 {
	if v == 0 {
		return -1
	}
	return v
}

func zeroRateMeansUnlimited(v float64) float64 {
	if v == 0 {
		return -1
	}
	return v
}

// shutdown stops accepting, commits mailbox state, and closes every
// connection (WebSockets with 1001 going away), all within the timeout.
func (r *relay) shutdown() error {
	r.healthy.Store(false)
	r.log.Info("shutting down", "cause", context.Cause(r.group.ctx).Error())
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg().ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, f := range []func(context.Context) error{r.http.Shutdown, r.mbox.Shutdown, r.transit.Shutdown} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		r.log.Error(err, "unclean shutdown")
		// Not a task failure: the exit status follows the stop's cause.
	}
	return nil
}

// signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads the config.
func (r *relay) signals(ctx context.Context) error {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case sig := <-ch:
			if sig == syscall.SIGHUP {
				if res, err := r.reload(); err != nil {
					r.log.Error(err, "reload on SIGHUP failed; keeping the running configuration")
				} else {
					r.log.Info("configuration reloaded", "applied", res.Applied, "restart_required", res.RestartRequired)
				}
				continue
			}
			r.log.Info("signal received", "signal", sig.String())
			return errStop
		}
	}
}

// reloadResult is the answer of reload_config.
type reloadResult struct {
	Applied         []string `json:"applied"`
	RestartRequired []string `json:"restart_required"`
}

// reload re-reads the configuration (same command line, current
// environment, config file) and applies what can change at run time.
func (r *relay) reload() (reloadResult, error) {
	next, err := loadConfig(r.args, r.lookup, io.Discard)
	if err != nil {
		return reloadResult{}, err
	}
	r.mu.Lock()
	prev := r.conf
	r.conf = next
	r.mu.Unlock()
	res := reloadResult{Applied: []string{}, RestartRequired: []string{}}
	for _, sp := range next.specs {
		if prev.values[sp.name] == next.values[sp.name] {
			continue
		}
		if sp.reload {
			res.Applied = append(res.Applied, sp.name)
		} else {
			res.RestartRequired = append(res.RestartRequired, sp.name)
		}
	}
	c := next.cfg
	for _, name := range res.Applied {
		switch name {
		case "motd":
			r.mbox.SetMOTD(c.MOTD)
		case "log-level":
			lv, _ := parseLevel(c.LogLevel)
			r.level.Set(lv)
		case "site-csp":
			if r.site != nil {
				r.site.setCSP(c.SiteCSP)
			}
		}
	}
	r.transit.SetLimits(c.transitLimits())
	sort.Strings(res.Applied)
	sort.Strings(res.RestartRequired)
	return res, nil
}

func (r *relay) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1", r.mbox)
	mux.Handle("/transit", r.transit)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, req *http.Request) {
		securityHeaders(w.Header())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !r.healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "shutting down\n")
			return
		}
		if err := r.mbox.Healthy(); err != nil {
			// A mailbox store write failed: changes are refused until
			// one succeeds again.
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "mailbox store failing: %v\n", err)
			return
		}
		fmt.Fprint(w, "ok\n")
	})
	metrics := promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
	mux.Handle("/metrics", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		securityHeaders(w.Header())
		metrics.ServeHTTP(w, req)
	}))
	if r.site != nil {
		mux.Handle("/", r.site)
	} else {
		mux.HandleFunc("/", banner)
	}
	return mux
}

// adminMethods registers the JSON-RPC methods.
func (r *relay) adminMethods(s *admin.Server) {
	s.Handle("stats", func(context.Context, json.RawMessage) (any, error) {
		return map[string]any{
			"version":        version(),
			"uptime_seconds": int64(time.Since(r.started).Seconds()),
			"motd":           r.mbox.MOTD(),
			"mailbox":        r.mbox.Stats(),
			"transit":        r.transit.Stats(),
		}, nil
	})
	s.Handle("set_motd", func(_ context.Context, p json.RawMessage) (any, error) {
		motd, err := stringParam(p, "motd")
		if err != nil {
			return nil, err
		}
		r.mbox.SetMOTD(motd)
		return map[string]string{"motd": motd}, nil
	})
	s.Handle("list_mailboxes", func(context.Context, json.RawMessage) (any, error) {
		return map[string]any{"mailboxes": r.mbox.ListMailboxes()}, nil
	})
	s.Handle("close_mailbox", func(ctx context.Context, p json.RawMessage) (any, error) {
		id, err := stringParam(p, "id")
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := r.mbox.CloseMailbox(ctx, id); err != nil {
			if errors.Is(err, mailboxws.ErrNoMailbox) {
				return nil, &admin.Error{Code: 404, Message: err.Error()}
			}
			return nil, err
		}
		return map[string]string{"closed": id}, nil
	})
	s.Handle("reload_config", func(context.Context, json.RawMessage) (any, error) {
		res, err := r.reload()
		if err != nil {
			return nil, &admin.Error{Code: 400, Message: "reload failed, running configuration kept: " + err.Error()}
		}
		r.log.Info("configuration reloaded", "applied", res.Applied, "restart_required", res.RestartRequired)
		return res, nil
	})
	s.Handle("shutdown", func(context.Context, json.RawMessage) (any, error) {
		// Stop a moment later so this answer still reaches the caller.
		time.AfterFunc(100*time.Millisecond, func() { r.group.Stop(fmt.Errorf("admin: %w", errStop)) })
		return map[string]bool{"shutting_down": true}, nil
	})
}

// stringParam reads params {"name": "x"} or ["x"].
func stringParam(p json.RawMessage, name string) (string, error) {
	var obj map[string]json.RawMessage
	var arr []string
	var raw json.RawMessage
	switch {
	case json.Unmarshal(p, &obj) == nil && obj[name] != nil:
		raw = obj[name]
	case json.Unmarshal(p, &arr) == nil && len(arr) == 1:
		return arr[0], nil
	default:
		return "", admin.InvalidParams(`want {"%s": string} or [string]`, name)
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", admin.InvalidParams(`%q must be a string`, name)
	}
	return v, nil
}

// logrWriter feeds net/http's error log (TLS noise, bad requests) into
// logr at debug verbosity.
type logrWriter struct{ log logr.Logger }

func (w logrWriter) Write(p []byte) (int, error) {
	w.log.V(1).Info(string(p))
	return len(p), nil
}

// group runs tasks that stop together: when one returns (with an error,
// or at all before the others were told to stop), the shared context is
// cancelled with that cause and Wait returns it once all have returned.
type group struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
}

func newGroup(parent context.Context) *group {
	ctx, cancel := context.WithCancelCause(parent)
	return &group{ctx: ctx, cancel: cancel}
}

// Go starts a task named name.
func (g *group) Go(name string, f func(context.Context) error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		err := f(g.ctx)
		if err == nil && g.ctx.Err() == nil {
			err = errors.New("stopped unexpectedly")
		}
		if err != nil && !errors.Is(err, errStop) {
			err = fmt.Errorf("%s: %w", name, err)
		}
		if err != nil {
			g.cancel(err) // the first cause wins
		}
	}()
}

// Stop cancels every task with cause.
func (g *group) Stop(cause error) { g.cancel(cause) }

// Wait waits for every task and returns the cause of the stop.
func (g *group) Wait() error {
	g.wg.Wait()
	return context.Cause(g.ctx)
}
