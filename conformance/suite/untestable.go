package suite

// NotWireTestable lists MUST rows no black-box check can verify against
// an arbitrary PS, each with the reason. `coverage` prints them; they
// count as not covered.
func NotWireTestable() map[string]string {
	return map[string]string{
		// §3.24: a duty only of a PS that delegates to a supervision server;
		// nothing on the wire says whether a PS does, and the kit has no
		// supervision-server fixture (Supervision -00).
		"PS-297": "conditional on a supervision server the PS was configured to use: no metadata announces one, no SS fixture",
	}
}
