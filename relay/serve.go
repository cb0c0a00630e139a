package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

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
	// advertised is what /relay.json tells the page, fixed at start.
	advertised advertised
	reg        *prometheus.Registry
	http       *http.Server
	group      *group
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

func (r *relay) cfg() *Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conf.cfg
}

// run sets everything up, serves until a stop is requested or a task
// fails, and shuts down gracefully.
func (r *relay) run() (err error) {
	c := r.cfg()
	// Sockets first: a taken port or a refused admin path fails the start
	// before the database is even opened.
	ls, err := listen(c)
	if err != nil {
		return err
	}
	defer ls.close()
	if err := r.openStore(c); err != nil {
		return err
	}
	defer func() {
		if cerr := r.store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close database: %w", cerr)
		}
	}()
	if err := r.buildServers(c); err != nil {
		return err
	}
	r.advertised = advertisement(c, ls.transitTCP)
	r.http = r.newHTTPServer()
	r.healthy.Store(true)
	r.log.Info("relay serving", "http", ls.http.Addr().String(), "transit_tcp", addrOf(ls.transitTCP),
		"transit_upstream", c.TransitUpstream, "admin_socket", c.AdminSocket, "db", c.DB, "site", c.Site)
	cause := r.serveUntilStopped(ls)
	if errors.Is(cause, errStop) {
		return nil
	}
	return cause
}

// openStore opens the mailbox state: SQLite, or memory for ":memory:".
func (r *relay) openStore(c *Config) error {
	if c.DB == ":memory:" {
		r.store = store.NewMemory()
		return nil
	}
	db, err := store.OpenSQLiteWith(c.DB, store.SQLiteOptions{Synchronous: c.DBSync})
	if err != nil {
		return fmt.Errorf("open database %s: %w", c.DB, err)
	}
	r.store = db
	return nil
}

// buildServers creates the metrics registry, the mailbox server, the
// transit relay and the site; none of them listens yet.
func (r *relay) buildServers(c *Config) (err error) {
	r.reg = prometheus.NewRegistry()
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if r.mbox, err = mailboxws.New(r.mailboxOptions(c)); err != nil {
		return fmt.Errorf("mailbox server: %w", err)
	}
	r.transit, err = transitnet.New(transitnet.Options{
		Limits:     c.transitLimits(),
		ClientIP:   c.clientIP(),
		Upstream:   upstreamAddr(c.TransitUpstream),
		Logger:     r.log.WithName("transit"),
		Registerer: r.reg,
	})
	if err != nil {
		return fmt.Errorf("transit relay: %w", err)
	}
	if c.Site != "" {
		if r.site, err = newSite(c.Site, c.SiteCSP, r.log.WithName("site")); err != nil {
			return err
		}
	}
	return nil
}

// mailboxOptions maps the configuration to the mailbox server's options.
func (r *relay) mailboxOptions(c *Config) mailboxws.Options {
	return mailboxws.Options{
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
		ClientIP:         c.clientIP(),
		IdleTimeout:      time.Duration(zeroMeansUnlimited(int64(c.IdleTimeout))),
		Expiry:           c.Expiry,
		PruneInterval:    c.PruneInterval,
		Hashcash:         c.HashcashBits,
	}
}

// listeners are the relay's sockets; transitTCP and admin may be nil.
type listeners struct {
	http, transitTCP, admin net.Listener
}

// listen opens every socket before anything is served, so a taken port
// fails the start instead of leaving a half-working relay.
func listen(c *Config) (_ *listeners, err error) {
	ls := &listeners{}
	defer func() {
		if err != nil {
			ls.close()
		}
	}()
	// No TCP keepalive on the HTTP port: mailbox connections have their
	// own pings and idle timeout, transit pairs theirs, and the four
	// setsockopt calls per accepted connection show in the session rate.
	if ls.http, err = (&net.ListenConfig{KeepAlive: -1}).Listen(context.Background(), "tcp", c.HTTP); err != nil {
		return nil, fmt.Errorf("listen --http: %w", err)
	}
	if c.TransitTCP != "" {
		if ls.transitTCP, err = net.Listen("tcp", c.TransitTCP); err != nil {
			return nil, fmt.Errorf("listen --transit-tcp: %w", err)
		}
	}
	if c.AdminSocket != "" {
		if ls.admin, err = admin.Listen(c.AdminSocket); err != nil {
			return nil, fmt.Errorf("--admin-socket: %w", err)
		}
	}
	return ls, nil
}

func (ls *listeners) close() {
	for _, ln := range []net.Listener{ls.http, ls.transitTCP, ls.admin} {
		if ln != nil {
			ln.Close()
		}
	}
}

func (r *relay) newHTTPServer() *http.Server {
	return &http.Server{
		Handler:           r.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          log.New(logrWriter{r.log.WithName("http")}, "", 0),
	}
}

// serveUntilStopped runs every task (listeners, the mailbox's pruner,
// signals, the shutdown that follows a stop) and returns the stop's cause
// once all have ended.
func (r *relay) serveUntilStopped(ls *listeners) error {
	r.group = newGroup(context.Background())
	g := r.group
	g.Go("http", func(context.Context) error {
		if err := r.http.Serve(ls.http); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if ls.transitTCP != nil {
		g.Go("transit-tcp", func(ctx context.Context) error { return r.transit.ServeTCP(ctx, ls.transitTCP) })
	}
	g.Go("mailbox", r.mbox.Run) // pruner and keepalive pings
	if ls.admin != nil {
		adm := admin.NewServer(r.log.WithName("admin"))
		r.adminMethods(adm)
		g.Go("admin", func(ctx context.Context) error { return adm.Serve(ctx, ls.admin) })
	}
	g.Go("signals", r.signals)
	g.Go("shutdown", func(ctx context.Context) error {
		<-ctx.Done()
		return r.shutdown()
	})
	return g.Wait()
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
