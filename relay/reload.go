package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

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
