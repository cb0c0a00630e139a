package wormhole

// Trace returns the session's timing trace as JSON: every WebSocket
// message with its direction, type, id, phase, connection number, when it
// was sent or received, when its ack came back and the server's
// server_tx/server_rx (see mailbox.TraceEntry for the fields). It is
// meant for diagnosing slow or failing sessions.
func (w *Wormhole) Trace() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m.Mailbox().TraceJSON()
}
