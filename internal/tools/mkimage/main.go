// Command mkimage writes the aauth-ps container image as an OCI archive
// (see internal/ociimage); `make image` runs it after `make build`.
//
//	go run ./internal/tools/mkimage -binary bin/aauth-ps -out bin/aauth-ps-image.tar
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/aauth-ps/aauth-ps/internal/ociimage"
)

func main() {
	binary := flag.String("binary", "bin/aauth-ps", "the aauth-ps binary, built with CGO_ENABLED=0")
	certs := flag.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle of CA certificates to include")
	out := flag.String("out", "bin/aauth-ps-image.tar", "where to write the OCI image archive")
	version := flag.String("version", "dev", "image version (label and tag)")
	arch := flag.String("arch", "", "GOARCH of the binary (default: this machine's)")
	flag.Parse()

	// SOURCE_DATE_EPOCH (reproducible-builds.org) dates the image; the Unix
	// epoch otherwise, so the same inputs give the same digest.
	var created time.Time
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fail(fmt.Errorf("SOURCE_DATE_EPOCH: %w", err))
		}
		created = time.Unix(sec, 0)
	}
	img, err := ociimage.Build(ociimage.Spec{Binary: *binary, CACerts: *certs, Version: *version, Arch: *arch, Created: created})
	if err != nil {
		fail(err)
	}
	if err := ociimage.WriteArchive(img, ociimage.RefName(*version), *out); err != nil {
		fail(err)
	}
	digest, err := img.Digest()
	if err != nil {
		fail(err)
	}
	fmt.Printf("wrote %s (%s, %s)\nload it with: docker load -i %s   or   podman load -i %s\n",
		*out, ociimage.RefName(*version), digest, *out, *out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mkimage:", err)
	os.Exit(1)
}
