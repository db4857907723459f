// Package version carries the build version, set with -ldflags.
package version

// Version is overwritten at link time (see the Makefile).
var Version = "dev"
