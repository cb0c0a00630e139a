package mailbox

import (
	"slices"
	"sort"
	"strconv"

	"github.com/wasmhole/wasmhole/relay/store"
)

func (m *Machine) handleList(o *out, c *conn) error {
	var names []string
	if !m.cfg.DisallowList {
		names = make([]string, 0, len(c.app.nameplates))
		for n := range c.app.nameplates {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	e := newEnc("nameplates", 16*len(names))
	e.key("nameplates")
	e.b = append(e.b, '[')
	for i, n := range names {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.b = append(e.b, `{"id":`...)
		e.b = appendString(e.b, n)
		e.b = append(e.b, '}')
	}
	e.b = append(e.b, ']')
	o.send(c.id, e.done(o.now))
	return nil
}

func (m *Machine) handleAllocate(o *out, c *conn) error {
	if c.didAllocate {
		return errGreedy
	}
	name, ok := m.freeNameplate(c.app)
	if !ok {
		return errNoFreeNameplate
	}
	if _, err := m.claimNameplate(o, c.app, name, c.side); err != nil {
		return err
	}
	c.didAllocate = true
	e := newEnc("allocated", len(name))
	e.str("nameplate", name)
	o.send(c.id, e.done(o.now))
	return nil
}

// freeNameplate picks uniformly among the free ids of the shortest length
// that has one (1–9, 10–99, 100–999), then tries random ids up to 999999.
func (m *Machine) freeNameplate(a *app) (string, bool) {
	var free []int
	for lo := 1; lo < 1000; lo *= 10 {
		free = free[:0]
		for i := lo; i < lo*10; i++ {
			if _, taken := a.nameplates[strconv.Itoa(i)]; !taken {
				free = append(free, i)
			}
		}
		if len(free) > 0 {
			return strconv.Itoa(free[m.randIntn(len(free))]), true
		}
	}
	for range 1000 {
		n := strconv.Itoa(1000 + m.randIntn(1000*1000-1000))
		if _, taken := a.nameplates[n]; !taken {
			return n, true
		}
	}
	return "", false
}

func (m *Machine) handleClaim(o *out, c *conn, cmd *Command) error {
	if !cmd.Nameplate.Present {
		return errClaimNP
	}
	if c.didClaim {
		return errOneClaim
	}
	c.didClaim = true
	if err := checkNameplate(cmd.Nameplate); err != nil {
		return err
	}
	name := cmd.Nameplate.S
	c.nameplate, c.hasNP = name, true
	np, err := m.claimNameplate(o, c.app, name, c.side)
	if err != nil {
		return err
	}
	e := newEnc("claimed", len(np.mb.id))
	e.str("mailbox", np.mb.id)
	// It reveals the nameplate and its mailbox, and whatever claiming
	// changed (which, if anything, is in one of those two).
	o.sendAfter(c.id, e.done(o.now), max(np.persisted, np.mb.persisted))
	return nil
}

func checkNameplate(f Field) error {
	if !f.IsStr {
		return errNotString("nameplate")
	}
	if len(f.S) > MaxNameplateLen {
		return errNPTooLong
	}
	if f.S == "" {
		return errNPNotDigits
	}
	for i := 0; i < len(f.S); i++ {
		if f.S[i] < '0' || f.S[i] > '9' {
			return errNPNotDigits
		}
	}
	return nil
}

// claimNameplate claims name for side, creating the nameplate and its
// mailbox on first claim, and opens that mailbox for the side. A third side
// is refused before anything is recorded, so it cannot crowd out the two
// legitimate ones (unlike the reference, docs/protocol.md §1.5).
func (m *Machine) claimNameplate(o *out, a *app, name, side string) (*nameplate, error) {
	np := a.nameplates[name]
	if np == nil {
		mb := m.newMailbox(a, true, o.now)
		mb.sides = []store.MailboxSide{{Side: side, Opened: true, Added: o.now}}
		np = &nameplate{name: name, mb: mb, created: o.now,
			sides: []store.NameplateSide{{Side: side, Claimed: true, Added: o.now}}}
		a.nameplates[name] = np
		mb.nameplates = append(mb.nameplates, name)
		m.stats.nameplates++
		mb.persisted = o.persist(store.PutMailbox{Mailbox: mb.record()})
		np.persisted = o.persist(store.PutNameplate{Nameplate: np.record(a)})
		return np, nil
	}
	mb := np.mb
	i := slices.IndexFunc(np.sides, func(s store.NameplateSide) bool { return s.Side == side })
	if i >= 0 && !np.sides[i].Claimed {
		return nil, errReclaimed
	}
	if i < 0 {
		if len(np.sides) >= 2 || !mb.admits(side) {
			return nil, errCrowded
		}
		np.sides = append(np.sides, store.NameplateSide{Side: side, Claimed: true, Added: o.now})
		np.persisted = o.persist(store.PutNameplate{Nameplate: np.record(a)})
	}
	m.openSide(o, mb, side)
	return np, nil
}

func (m *Machine) handleRelease(o *out, c *conn, cmd *Command) error {
	if c.didRelease {
		return errOneRelease
	}
	var name string
	if cmd.Nameplate.Present {
		if !cmd.Nameplate.IsStr {
			return errNotString("nameplate")
		}
		if c.hasNP && cmd.Nameplate.S != c.nameplate {
			return errReleaseSame
		}
		name = cmd.Nameplate.S
	} else {
		if !c.hasNP {
			return errReleaseNoClaim
		}
		name = c.nameplate
	}
	c.didRelease = true
	m.releaseNameplate(o, c.app, name, c.side)
	o.send(c.id, newEnc("released", 0).done(o.now))
	return nil
}

// releaseNameplate unclaims name for side; the nameplate goes away when no
// side claims it. Releasing an unknown nameplate is not an error (clients
// re-send release after reconnecting).
func (m *Machine) releaseNameplate(o *out, a *app, name, side string) {
	np := a.nameplates[name]
	if np == nil {
		return
	}
	i := slices.IndexFunc(np.sides, func(s store.NameplateSide) bool { return s.Side == side })
	if i < 0 {
		return
	}
	np.sides[i].Claimed = false
	for _, s := range np.sides {
		if s.Claimed {
			np.persisted = o.persist(store.PutNameplate{Nameplate: np.record(a)})
			return
		}
	}
	m.deleteNameplate(o, a, np)
}

func (m *Machine) deleteNameplate(o *out, a *app, np *nameplate) {
	delete(a.nameplates, np.name)
	m.stats.nameplates--
	np.mb.nameplates = slices.DeleteFunc(np.mb.nameplates, func(n string) bool { return n == np.name })
	o.persist(store.DeleteNameplate{AppID: a.id, Name: np.name})
}
