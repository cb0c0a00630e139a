package mailboxws

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wasmhole/wasmhole/relay/store"
)

// sessionClient is a minimal synchronous mailbox client for load.
type sessionClient struct {
	ctx context.Context
	ws  *websocket.Conn
}

func (c *sessionClient) send(v string) error {
	return c.ws.Write(c.ctx, websocket.MessageText, []byte(v))
}

// wait reads until a message of type typ (skipping acks); an error
// message fails.
func (c *sessionClient) wait(typ string) (map[string]any, error) {
	for {
		_, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, err
		}
		switch m["type"] {
		case typ:
			return m, nil
		case "error":
			return nil, fmt.Errorf("server error %v", m["error"])
		}
	}
}

// runSession is one session as the issue defines it (and as mbbench rtt
// does it): connect, bind, allocate, claim, open, add, wait for the echo,
// release, close.
func runSession(ctx context.Context, url, side string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer ws.CloseNow()
	c := &sessionClient{ctx: ctx, ws: ws}
	steps := []struct{ send, wait string }{
		{"", "welcome"},
		{`{"type":"bind","appid":"` + testApp + `","side":"` + side + `","id":"b"}`, "ack"},
		{`{"type":"allocate","id":"a"}`, "allocated"},
	}
	var np, mb string
	for _, s := range steps {
		if s.send != "" {
			if err := c.send(s.send); err != nil {
				return err
			}
		}
		m, err := c.wait(s.wait)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", s.wait, err)
		}
		if s.wait == "allocated" {
			np = m["nameplate"].(string)
		}
	}
	if err := c.send(`{"type":"claim","nameplate":"` + np + `","id":"c"}`); err != nil {
		return err
	}
	m, err := c.wait("claimed")
	if err != nil {
		return err
	}
	mb = m["mailbox"].(string)
	if err := c.send(`{"type":"open","mailbox":"` + mb + `","id":"o"}`); err != nil {
		return err
	}
	if err := c.send(`{"type":"add","phase":"pake","body":"` + side + `","id":"m"}`); err != nil {
		return err
	}
	if m, err = c.wait("message"); err != nil || m["body"] != side {
		return fmt.Errorf("echo %v: %w", m, err)
	}
	for _, s := range []struct{ send, wait string }{
		{`{"type":"release","nameplate":"` + np + `","id":"r"}`, "released"},
		{`{"type":"close","mailbox":"` + mb + `","mood":"happy","id":"z"}`, "closed"},
	} {
		if err := c.send(s.send); err != nil {
			return err
		}
		if _, err := c.wait(s.wait); err != nil {
			return fmt.Errorf("waiting for %s: %w", s.wait, err)
		}
	}
	ws.Close(websocket.StatusNormalClosure, "")
	return nil
}

// BenchmarkSessionRate measures complete sessions per second over real
// loopback WebSockets with 64 concurrent clients, for the durable SQLite
// store (synchronous=FULL and NORMAL) and the in-memory store. Run with
// -benchtime=Nx (N sessions per measurement).
func BenchmarkSessionRate(b *testing.B) {
	for _, kind := range []string{"sqlite-full", "sqlite-normal", "memory"} {
		b.Run(kind, func(b *testing.B) {
			var st store.Store
			switch kind {
			case "memory":
				st = store.NewMemory()
			default:
				mode := "FULL"
				if kind == "sqlite-normal" {
					mode = "NORMAL"
				}
				s, err := store.OpenSQLiteWith(filepath.Join(b.TempDir(), "m.sqlite"), store.SQLiteOptions{Synchronous: mode})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				st = s
			}
			ts := startServer(b, "127.0.0.1:0", Options{Store: st})
			const workers = 64
			var next atomic.Int64
			var failed atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; next.Add(1) <= int64(b.N); i++ {
						if err := runSession(context.Background(), ts.url, fmt.Sprintf("s%d-%d", w, i)); err != nil {
							if failed.Add(1) < 3 {
								b.Log(err)
							}
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if failed.Load() > 0 {
				b.Fatalf("%d sessions failed", failed.Load())
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
		})
	}
}
