package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "relay.conf")
	if err := os.WriteFile(file, []byte(`
# comment
motd = "  from file  "
expiry = 20m
transit-idle-timeout=3m
--per-ip-conns = 9
`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{"defaults", nil, nil, func(t *testing.T, c *Config) {
			if c.HTTP != ":4000" || c.TransitTCP != ":4001" || c.DB != "relay.sqlite" || c.Expiry != 11*time.Minute ||
				c.AdminSocket != "relay-admin.sock" || c.LogFormat != "json" || c.HashcashBits != 0 || c.LimitLoopback {
				t.Fatalf("%+v", c)
			}
		}},
		{"env twin", nil, map[string]string{"RELAY_HTTP": "127.0.0.1:9", "RELAY_DB": ":memory:", "RELAY_TRANSIT_MAX_BYTES": "100"}, func(t *testing.T, c *Config) {
			if c.HTTP != "127.0.0.1:9" || c.DB != ":memory:" || c.TransitMaxBytes != 100 {
				t.Fatalf("%+v", c)
			}
		}},
		{"flag beats env", []string{"--http", "127.0.0.1:1"}, map[string]string{"RELAY_HTTP": "127.0.0.1:9"}, func(t *testing.T, c *Config) {
			if c.HTTP != "127.0.0.1:1" {
				t.Fatal(c.HTTP)
			}
		}},
		{"empty env disables transit tcp", nil, map[string]string{"RELAY_TRANSIT_TCP": ""}, func(t *testing.T, c *Config) {
			if c.TransitTCP != "" {
				t.Fatal(c.TransitTCP)
			}
		}},
		{"config file under env and flags", []string{"--config", file, "--expiry", "30m"}, map[string]string{"RELAY_PER_IP_CONNS": "5"}, func(t *testing.T, c *Config) {
			if c.MOTD != "  from file  " || c.TransitIdleTimeout != 3*time.Minute || c.Expiry != 30*time.Minute || c.PerIPConns != 5 {
				t.Fatalf("%+v", c)
			}
		}},
		{"config file from env", nil, map[string]string{"RELAY_CONFIG": file}, func(t *testing.T, c *Config) {
			if c.PerIPConns != 9 || c.Expiry != 20*time.Minute {
				t.Fatalf("%+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := loadConfig(tt.args, envMap(tt.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, l.cfg)
		})
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("no-such-flag = 1\n"), 0o644)
	loop := filepath.Join(dir, "loop.conf")
	os.WriteFile(loop, []byte("config = other\n"), 0o644)
	noeq := filepath.Join(dir, "noeq.conf")
	os.WriteFile(noeq, []byte("motd\n"), 0o644)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown flag", []string{"--nope"}, nil, "not defined"},
		{"stray argument", []string{"extra"}, nil, "unexpected argument"},
		{"bad env value", nil, map[string]string{"RELAY_EXPIRY": "soon"}, "RELAY_EXPIRY"},
		{"unknown file key", []string{"--config", bad}, nil, "unknown setting"},
		{"config in config", []string{"--config", loop}, nil, "cannot be set"},
		{"line without =", []string{"--config", noeq}, nil, "want name = value"},
		{"missing file", []string{"--config", filepath.Join(dir, "missing")}, nil, "no such file"},
		{"empty http", []string{"--http", ""}, nil, "--http"},
		{"log level", []string{"--log-level", "loud"}, nil, "log-level"},
		{"negative limit", []string{"--per-ip-conns", "-1"}, nil, "negative"},
		{"hashcash range", []string{"--hashcash-bits", "99"}, nil, "hashcash"},
		{"db sync", []string{"--db-sync", "sometimes"}, nil, "--db-sync"},
		{"trusted proxies", []string{"--trusted-proxies", "10.0.0.0/33"}, nil, "--trusted-proxies"},
		{"trusted proxy name", []string{"--trusted-proxies", "proxy.example"}, nil, "--trusted-proxies"},
		{"upstream without scheme", []string{"--transit-upstream", "relay.example:4001"}, nil, "--transit-upstream"},
		{"upstream without port", []string{"--transit-upstream", "tcp:relay.example"}, nil, "--transit-upstream"},
		{"advertised port", []string{"--advertise-transit-tcp", "tcp:relay.example:0"}, nil, "--advertise-transit-tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(tt.args, envMap(tt.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if _, err := loadConfig([]string{"--expiry", "0s"}, envMap(nil), io.Discard); !errors.Is(err, ErrConfig) {
		t.Fatalf("zero expiry: %v", err)
	}
}

// TestReadmeDocumentsEveryFlag keeps README.md in step with the flags.
func TestReadmeDocumentsEveryFlag(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	l, err := loadConfig(nil, envMap(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range l.specs {
		row := regexp.MustCompile("(?m)^\\| `--" + regexp.QuoteMeta(sp.name) + "` \\| `" + envName(sp.name) + "` \\|")
		if !row.MatchString(readme) {
			t.Errorf("README.md has no table row for --%s / %s", sp.name, envName(sp.name))
		}
	}
	for _, m := range []string{"stats", "set_motd", "list_mailboxes", "close_mailbox", "reload_config", "shutdown"} {
		if !strings.Contains(readme, "`"+m+"`") {
			t.Errorf("README.md does not document admin method %s", m)
		}
	}
}

func TestAdminParams(t *testing.T) {
	tests := []struct {
		words []string
		want  string
	}{
		{nil, "null"},
		{[]string{"hello there"}, `["hello there"]`},
		{[]string{`{"id":"x"}`}, `{"id":"x"}`},
		{[]string{"motd=42", "x=a=b"}, `{"motd":"42","x":"a=b"}`},
		{[]string{`list=[1,2]`, `s="q"`}, `{"list":[1,2],"s":"q"}`},
	}
	for _, tt := range tests {
		p, err := adminParams(tt.words)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(mustJSON(t, p)); got != tt.want {
			t.Errorf("%q: got %s, want %s", tt.words, got, tt.want)
		}
	}
	for _, bad := range [][]string{{"{nope"}, {"a=1", "novalue"}, {`k={bad`}} {
		if _, err := adminParams(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
