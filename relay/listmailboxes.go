package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/wasmhole/wasmhole/relay/admin"
	"github.com/wasmhole/wasmhole/relay/mailboxws"
)

// list_mailboxes answers in pages, because the list is longest exactly
// when an operator looks into an attack: params {"limit": N, "after":
// {"appid": A, "id": I}} return at most N mailboxes following (A, I) in
// (app id, mailbox id) order, and "next" is the cursor of the following
// page, absent on the last. Without params the whole list comes at once.
// `relay admin list_mailboxes` walks the pages and streams them out.

// mailboxKey is a position in the list.
type mailboxKey struct {
	AppID string `json:"appid"`
	ID    string `json:"id"`
}

type listParams struct {
	Limit int         `json:"limit"`
	After *mailboxKey `json:"after"`
}

type listPage struct {
	Mailboxes []mailboxws.MailboxInfo `json:"mailboxes"`
	Total     int                     `json:"total"`
	Next      *mailboxKey             `json:"next,omitempty"`
}

// maxListPage bounds one page, about 150 bytes a mailbox.
const maxListPage = 5000

// listMailboxesPage cuts the page params ask for out of all, which is
// sorted by app id and mailbox id.
func listMailboxesPage(all []mailboxws.MailboxInfo, params json.RawMessage) (any, error) {
	if len(params) == 0 {
		return map[string]any{"mailboxes": all}, nil
	}
	var p listParams
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, admin.InvalidParams(`want {"limit": 1..%d, "after": {"appid": string, "id": string}}`, maxListPage)
	}
	if p.Limit <= 0 || p.Limit > maxListPage {
		return nil, admin.InvalidParams(`"limit" must be 1..%d`, maxListPage)
	}
	start := 0
	if a := p.After; a != nil {
		start = sort.Search(len(all), func(i int) bool {
			m := all[i]
			return m.AppID > a.AppID || (m.AppID == a.AppID && m.ID > a.ID)
		})
	}
	end := min(start+p.Limit, len(all))
	page := listPage{Mailboxes: all[start:end], Total: len(all)}
	if end < len(all) {
		last := all[end-1]
		page.Next = &mailboxKey{AppID: last.AppID, ID: last.ID}
	}
	return page, nil
}

// streamMailboxes is `relay admin list_mailboxes`: it fetches the list page
// by page and writes one JSON document {"mailboxes": [...]} to w as the
// pages arrive, so neither side holds more than a page.
func streamMailboxes(ctx context.Context, sock string, pageSize int, w io.Writer) error {
	var after *mailboxKey
	n := 0
	if _, err := io.WriteString(w, "{\n  \"mailboxes\": ["); err != nil {
		return err
	}
	for {
		res, err := admin.Call(ctx, sock, "list_mailboxes", listParams{Limit: pageSize, After: after})
		if err != nil {
			return err
		}
		var page struct {
			Mailboxes []json.RawMessage `json:"mailboxes"`
			Next      *mailboxKey       `json:"next"`
		}
		if err := json.Unmarshal(res, &page); err != nil {
			return fmt.Errorf("list_mailboxes: %w", err)
		}
		for _, m := range page.Mailboxes {
			sep := ","
			if n == 0 {
				sep = ""
			}
			var b []byte
			var v any
			if json.Unmarshal(m, &v) == nil {
				b, _ = json.MarshalIndent(v, "    ", "  ")
			} else {
				b = m
			}
			if _, err := fmt.Fprintf(w, "%s\n    %s", sep, b); err != nil {
				return err
			}
			n++
		}
		if page.Next == nil {
			break
		}
		after = page.Next
	}
	end := "\n  ]\n}\n"
	if n == 0 {
		end = "]\n}\n"
	}
	_, err := io.WriteString(w, end)
	return err
}
