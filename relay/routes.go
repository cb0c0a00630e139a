package main

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

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
		fmt.Fprint(w, "ok\n")
	})
	metrics := promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
	mux.Handle("/metrics", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		securityHeaders(w.Header())
		metrics.ServeHTTP(w, req)
	}))
	mux.Handle("/relay.json", r.advertised)
	if r.site != nil {
		mux.Handle("/", r.site)
	} else {
		mux.HandleFunc("/", banner)
	}
	return mux
}
