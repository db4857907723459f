package pending

import "context"

// Hooks for the external tests (package pending_test), which cannot be in
// this package: they need ps/store, which imports it.

// CodeFormat is the display form of an interaction code.
var CodeFormat = codeFormat

// LoadRecord reads a request with its bookkeeping, as the engine does.
func (e *Engine) LoadRecord(ctx context.Context, id string) (*Record, error) { return e.load(ctx, id) }

// NotifierOf is the engine's notifier.
func NotifierOf(e *Engine) Notifier { return e.n }

// SetCodeSource replaces the interaction-code generator.
func SetCodeSource(e *Engine, f func() string) { e.newCode = f }
