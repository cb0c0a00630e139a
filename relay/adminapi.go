package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wasmhole/wasmhole/relay/admin"
	"github.com/wasmhole/wasmhole/relay/mailboxws"
)

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
	s.Handle("list_mailboxes", func(_ context.Context, p json.RawMessage) (any, error) {
		return listMailboxesPage(r.mbox.ListMailboxes(), p)
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
