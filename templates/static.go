package templates

import "embed"

// Static holds /static assets: served with long cache lifetimes and
// referenced by content hash-free names (the binary version changes them).
//
//go:embed static
var Static embed.FS
