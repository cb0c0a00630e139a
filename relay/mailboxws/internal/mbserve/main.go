// Command mbserve runs the mailbox server alone, for load tests and RSS
// measurements with a separate load client (shared/peers/bench/mbbench).
// The real relay binary lives in relay/.
//
//	mbserve -addr 127.0.0.1:4000 -db /tmp/m.sqlite   (or -db memory)
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/wasmhole/wasmhole/relay/mailboxws"
	"github.com/wasmhole/wasmhole/relay/store"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4000", "listen address")
	db := flag.String("db", "memory", `"memory", ":memory:" (SQLite in memory) or an SQLite file`)
	syncMode := flag.String("sync", "FULL", "SQLite synchronous mode")
	idle := flag.Duration("idle", 0, "idle timeout (0: default)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here until exit")
	debugAddr := flag.String("debug", "", "serve net/http/pprof and /memstats on this address")
	memRate := flag.Int("memprofilerate", 0, "runtime.MemProfileRate (1: every allocation)")
	flag.Parse()
	if *memRate > 0 {
		runtime.MemProfileRate = *memRate
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	if *debugAddr != "" {
		http.HandleFunc("/memstats", func(w http.ResponseWriter, r *http.Request) {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Fprintf(w, "goroutines %d heap_inuse %d stack_inuse %d heap_objects %d sys %d\n",
				runtime.NumGoroutine(), m.HeapInuse, m.StackInuse, m.HeapObjects, m.Sys)
		})
		go http.ListenAndServe(*debugAddr, nil) // DefaultServeMux has /debug/pprof
	}
	var st store.Store
	if *db == "memory" {
		st = store.NewMemory()
	} else {
		s, err := store.OpenSQLiteWith(*db, store.SQLiteOptions{Synchronous: *syncMode})
		if err != nil {
			log.Fatal(err)
		}
		defer s.Close()
		st = s
	}
	srv, err := mailboxws.New(mailboxws.Options{Store: st, IdleTimeout: *idle})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1", srv)
	hs := &http.Server{Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go srv.Run(ctx)
	go hs.Serve(ln)
	fmt.Printf("mbserve pid %d listening on ws://%s/v1 (db %s)\n", os.Getpid(), ln.Addr(), *db)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	hs.Shutdown(sctx)
}
