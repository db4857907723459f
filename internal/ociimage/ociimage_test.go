package ociimage_test

import (
	"archive/tar"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/aauth-ps/aauth-ps/internal/ociimage"
)

// TestImage (issue 14, "make image"): the image archive runs as a non-root
// user, starts `aauth-ps serve`, holds no shell, and carries a static binary
// that runs and the CA certificates Go looks for. `make test` runs `make
// image` first and hands its tarball in AAUTH_IMAGE_TAR, so CI inspects the
// very archive `make image` wrote; without it the test builds one the same
// way (the real aauth-ps binary, CGO_ENABLED=0).
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the aauth-ps binary")
	}
	dir := t.TempDir()
	img, err := ociimage.ReadArchive(imageArchive(t, dir), filepath.Join(dir, "layout"))
	if err != nil {
		t.Fatal(err)
	}

	mt, err := img.MediaType()
	if err != nil || mt != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("manifest media type %q (%v), want an OCI manifest", mt, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if c.User != "65532:65532" {
		t.Errorf("user %q, want the non-root 65532:65532", c.User)
	}
	if entry := append(slices.Clone(c.Entrypoint), c.Cmd...); !slices.Equal(entry, []string{"/usr/local/bin/aauth-ps", "serve"}) {
		t.Errorf("entrypoint %q + cmd %q, want aauth-ps serve", c.Entrypoint, c.Cmd)
	}
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s", cfg.OS, cfg.Architecture)
	}
	if _, ok := c.Volumes["/data"]; !ok {
		t.Errorf("no /data volume: %v", c.Volumes)
	}

	files := flatten(t, img)
	for _, shell := range []string{"bin/sh", "bin/bash", "bin/busybox", "usr/bin/sh", "bin", "usr/bin"} {
		if _, ok := files[shell]; ok {
			t.Errorf("the image holds %s", shell)
		}
	}
	if h, ok := files["data/"]; !ok || h.Uid != 65532 || h.Gid != 65532 {
		t.Errorf("/data is not the non-root user's: %+v", h)
	}
	if !strings.Contains(files["etc/passwd"].body, "nonroot:x:65532:65532:") {
		t.Errorf("no nonroot user in /etc/passwd:\n%s", files["etc/passwd"].body)
	}
	if !strings.Contains(files["etc/ssl/certs/ca-certificates.crt"].body, "BEGIN CERTIFICATE") {
		t.Error("no CA certificates at /etc/ssl/certs/ca-certificates.crt")
	}
	for name, f := range files {
		if f.Uid == 0 && f.Mode&0o002 != 0 && name != "tmp/" {
			t.Errorf("%s is world-writable", name)
		}
	}

	// The binary in the image is static (no ELF interpreter, so no libc
	// needed) and is the aauth-ps that runs.
	inImage := filepath.Join(dir, "from-image")
	h, ok := files["usr/local/bin/aauth-ps"]
	if !ok || h.Mode&0o111 == 0 {
		t.Fatalf("no executable /usr/local/bin/aauth-ps: %+v", h)
	}
	if err := os.WriteFile(inImage, []byte(h.body), 0o755); err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(inImage)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked (has an ELF interpreter)")
		}
	}
	ef.Close()
	if out, err := exec.Command(inImage, "version").Output(); err != nil || !strings.HasPrefix(string(out), "aauth-ps ") {
		t.Errorf("the image's binary does not run: %q %v", out, err)
	}
}

type entry struct {
	*tar.Header
	body string
}

// flatten reads the image's layers into one file system view.
func flatten(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]entry{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = entry{h, string(b)}
		}
		rc.Close()
	}
	return files
}

// imageArchive is the OCI archive under test: AAUTH_IMAGE_TAR when set (it
// must exist: a missing archive fails, never skips), else one built here
// the way `make image` builds it.
func imageArchive(t *testing.T, dir string) string {
	t.Helper()
	if tarball := os.Getenv("AAUTH_IMAGE_TAR"); tarball != "" {
		if _, err := os.Stat(tarball); err != nil {
			t.Fatalf("AAUTH_IMAGE_TAR: %v", err)
		}
		return tarball
	}
	bin := filepath.Join(dir, "aauth-ps")
	build := exec.Command("go", "build", "-trimpath", "-tags", "nomsgpack", "-o", bin, "github.com/aauth-ps/aauth-ps/cmd/aauth-ps")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	certs := "/etc/ssl/certs/ca-certificates.crt"
	if _, err := os.Stat(certs); err != nil {
		t.Fatalf("the build machine has no CA bundle: %v", err)
	}
	img, err := ociimage.Build(ociimage.Spec{Binary: bin, CACerts: certs, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "image.tar")
	if err := ociimage.WriteArchive(img, ociimage.RefName("test"), archive); err != nil {
		t.Fatal(err)
	}
	return archive
}
