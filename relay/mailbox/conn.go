package mailbox

import "strconv"

func (m *Machine) connected(o *out, id ConnID, client string) {
	if _, dup := m.conns[id]; dup {
		return
	}
	c := &conn{id: id, client: client}
	m.conns[id] = c
	m.stats.connsTotal++
	e := newEnc("welcome", len(m.welcome)+96)
	e.key("welcome")
	e.b = append(e.b, '{')
	e.b = append(e.b, m.welcome...)
	if m.cfg.HashcashBits > 0 {
		// A fresh resource per connection: a stamp cannot be reused.
		c.resource = m.randomID()
		if len(m.welcome) > 0 {
			e.b = append(e.b, ',')
		}
		e.b = append(e.b, `"permission-required":{"hashcash":{"bits":`...)
		e.b = strconv.AppendInt(e.b, int64(m.cfg.HashcashBits), 10)
		e.b = append(e.b, `,"resource":`...)
		e.b = appendString(e.b, c.resource)
		e.b = append(e.b, "}}"...)
	}
	e.b = append(e.b, '}')
	o.sendFree(id, e.done(o.now))
}

// buildWelcome caches the members of the welcome object (without braces).
func (m *Machine) buildWelcome() {
	var b []byte
	add := func(k, v string) {
		if v == "" {
			return
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, v)
	}
	add("motd", m.cfg.MOTD)
	add("current_cli_version", m.cfg.AdvertiseVersion)
	add("error", m.cfg.SignalError)
	m.welcome = b
}

// SetMOTD changes the motd sent in later welcomes.
func (m *Machine) SetMOTD(motd string) {
	m.cfg.MOTD = motd
	m.buildWelcome()
}

// MOTD returns the current motd.
func (m *Machine) MOTD() string { return m.cfg.MOTD }

func (m *Machine) sendError(o *out, c *conn, pe protoErr, orig []byte) {
	m.stats.errors[pe.kind]++
	e := newEnc("error", len(pe.msg)+len(orig))
	e.str("error", pe.msg)
	e.raw("orig", orig)
	o.send(c.id, e.done(o.now))
}

func (m *Machine) received(o *out, c *conn, cmd *Command) {
	if cmd.Invalid {
		m.sendError(o, c, errNotObject, nil)
		return
	}
	if !cmd.HasType {
		m.sendError(o, c, errMissingType, cmd.Raw)
		return
	}
	// Every typed command is acked before it is handled, so an error
	// always follows its ack.
	e := newEnc("ack", len(cmd.ID))
	e.raw("id", cmd.ID)
	o.sendFree(c.id, e.done(o.now))

	if err := m.dispatch(o, c, cmd); err != nil {
		pe, ok := err.(protoErr)
		if !ok {
			pe = protoErr{"internal", err.Error()}
		}
		m.sendError(o, c, pe, cmd.Raw)
		if pe == errPermission {
			o.acts = append(o.acts, CloseConn{Conn: c.id, Code: ClosePolicyViolation, Reason: "permission denied"})
		}
	}
}

func (m *Machine) dispatch(o *out, c *conn, cmd *Command) error {
	typ := cmd.Type
	if typ == "ping" {
		return m.handlePing(o, c, cmd)
	}
	if typ == "submit-permissions" || typ == "submit-permission" {
		return m.handlePermission(c, cmd)
	}
	if m.cfg.HashcashBits > 0 && !c.permitted {
		return errPermission
	}
	if typ == "bind" {
		return m.handleBind(c, cmd)
	}
	if c.app == nil {
		return errMustBind
	}
	switch typ {
	case "list":
		return m.handleList(o, c)
	case "allocate":
		return m.handleAllocate(o, c)
	case "claim":
		return m.handleClaim(o, c, cmd)
	case "release":
		return m.handleRelease(o, c, cmd)
	case "open":
		return m.handleOpen(o, c, cmd)
	case "add":
		return m.handleAdd(o, c, cmd)
	case "close":
		return m.handleClose(o, c, cmd)
	}
	return errUnknownType
}

func (m *Machine) handlePing(o *out, c *conn, cmd *Command) error {
	if !cmd.HasPing {
		return errPingRequires
	}
	e := newEnc("pong", len(cmd.Ping))
	e.raw("pong", cmd.Ping)
	o.sendFree(c.id, e.done(o.now))
	return nil
}

func (m *Machine) handlePermission(c *conn, cmd *Command) error {
	if m.cfg.HashcashBits <= 0 || c.permitted {
		return nil // nothing was asked; accept and ignore
	}
	if cmd.Method.S != "hashcash" || !cmd.Stamp.IsStr ||
		!VerifyHashcash(cmd.Stamp.S, c.resource, m.cfg.HashcashBits) {
		return errPermission
	}
	c.permitted = true
	return nil
}

func (m *Machine) handleBind(c *conn, cmd *Command) error {
	if c.app != nil {
		return errAlreadyBound
	}
	if !cmd.AppID.Present {
		return errBindAppID
	}
	if !cmd.Side.Present {
		return errBindSide
	}
	if !cmd.AppID.IsStr {
		return errNotString("appid")
	}
	if !cmd.Side.IsStr {
		return errNotString("side")
	}
	if len(cmd.AppID.S) > maxAppIDLen {
		return errTooLong("appid", maxAppIDLen)
	}
	if len(cmd.Side.S) > maxSideLen {
		return errTooLong("side", maxSideLen)
	}
	a := m.apps[cmd.AppID.S]
	if a == nil {
		a = &app{id: cmd.AppID.S, nameplates: make(map[string]*nameplate), mailboxes: make(map[string]*mailbox)}
		m.apps[a.id] = a
	}
	a.bound++
	c.app = a
	c.side = cmd.Side.S
	return nil
}

func (m *Machine) disconnected(id ConnID) {
	c := m.conns[id]
	if c == nil {
		return
	}
	delete(m.conns, id)
	if c.mb != nil && c.listening {
		c.mb.removeListener(c)
	}
	if c.app != nil {
		c.app.bound--
		m.maybeDropApp(c.app)
	}
}

// prune touches every mailbox somebody listens to and deletes the ones
