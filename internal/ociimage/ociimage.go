// Package ociimage assembles the aauth-ps container image from scratch — the
// static binary, the build machine's CA certificates and a non-root user,
// nothing else (no shell, no package manager) — and writes it as an OCI
// image archive (an OCI image layout in a tar file, what `docker load`,
// `podman load` and `skopeo copy oci-archive:` read). No Docker daemon and
// no registry are needed, so the image is built and inspected wherever Go
// runs. The Dockerfile at the repository root builds the same image.
package ociimage

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed facts, shared with the Dockerfile and the test.
const (
	BinaryPath  = "/usr/local/bin/aauth-ps"
	CACertsPath = "/etc/ssl/certs/ca-certificates.crt"
	User        = "65532:65532" // "nonroot", as in distroless images
	DataDir     = "/data"
	ListenPort  = "8443/tcp"

	uid, gid = 65532, 65532
	passwd   = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group    = "root:x:0:\nnonroot:x:65532:\n"
)

// Spec says what goes into the image.
type Spec struct {
	Binary  string    // the aauth-ps binary, built with CGO_ENABLED=0
	CACerts string    // a PEM bundle, usually /etc/ssl/certs/ca-certificates.crt
	Version string    // org.opencontainers.image.version
	Arch    string    // GOARCH of the binary; runtime.GOARCH when empty
	Created time.Time // image and file times; the Unix epoch when zero, so builds are reproducible
}

// Build assembles the image: one layer, the configuration of the
// Dockerfile (non-root user, entrypoint aauth-ps, default command serve).
func Build(s Spec) (v1.Image, error) {
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, fmt.Errorf("image binary: %w", err)
	}
	certs, err := os.ReadFile(s.CACerts)
	if err != nil {
		return nil, fmt.Errorf("image CA certificates: %w", err)
	}
	if !bytes.Contains(certs, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("image CA certificates: %s holds no PEM certificate", s.CACerts)
	}
	created := s.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC()
	arch := s.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}

	layerTar, err := rootfs(created, bin, certs)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer, History: v1.History{
		Created: v1.Time{Time: created}, CreatedBy: "aauth-ps internal/ociimage", Comment: "binary, CA certificates, nonroot user",
	}})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", arch
	cfg.Created = v1.Time{Time: created}
	cfg.Config = v1.Config{
		User:       User,
		WorkingDir: "/",
		Entrypoint: []string{BinaryPath},
		Cmd:        []string{"serve"},
		Env: []string{
			"PATH=/usr/local/bin",
			"AAUTH_PS_LISTEN=:8443",
			"AAUTH_PS_DATABASE_URL=sqlite:" + DataDir + "/aauth-ps.db",
		},
		ExposedPorts: map[string]struct{}{ListenPort: {}},
		Volumes:      map[string]struct{}{DataDir: {}},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "aauth-ps",
			"org.opencontainers.image.version": s.Version,
		},
	}
	return mutate.ConfigFile(img, cfg)
}

// rootfs is the one layer's tar: directories first, then the files, all
// owned by root except the data directory, all with the same time.
func rootfs(mtime time.Time, bin, certs []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: owner, Gid: owner, ModTime: mtime, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, body []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	var errs []error
	for _, d := range []string{"etc", "etc/ssl", "etc/ssl/certs", "usr", "usr/local", "usr/local/bin"} {
		errs = append(errs, dir(d, 0o755, 0))
	}
	errs = append(errs,
		dir("tmp", 0o1777, 0),
		dir("home", 0o755, 0),
		dir("home/nonroot", 0o700, uid),
		dir(strings.TrimPrefix(DataDir, "/"), 0o700, uid),
		file("etc/passwd", 0o644, []byte(passwd)),
		file("etc/group", 0o644, []byte(group)),
		file(strings.TrimPrefix(CACertsPath, "/"), 0o644, certs),
		file(strings.TrimPrefix(BinaryPath, "/"), 0o755, bin),
		tw.Close(),
	)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	return buf.Bytes(), nil
}

// RefName is the tag written into the archive's index
// (org.opencontainers.image.ref.name), which `podman load` and
// `docker load` use as the image name.
func RefName(version string) string {
	if version == "" {
		version = "latest"
	}
	return "aauth-ps:" + version
}

// WriteArchive writes img as an OCI image layout packed in a tar file at path.
func WriteArchive(img v1.Image, refName, path string) error {
	tmp, err := os.MkdirTemp("", "aauth-ps-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	lp, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": refName})); err != nil {
		return err
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(out)
	walkErr := filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == tmp {
			return err
		}
		rel, _ := filepath.Rel(tmp, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		hdr.ModTime, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = time.Unix(0, 0), 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err := errors.Join(walkErr, tw.Close(), out.Close()); err != nil {
		os.Remove(path)
		return fmt.Errorf("write image archive: %w", err)
	}
	return nil
}

// ReadArchive unpacks an archive written by WriteArchive into dir and
// returns its one image, for inspection.
func ReadArchive(path, dir string) (v1.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		name := filepath.Clean(filepath.FromSlash(hdr.Name))
		if !filepath.IsLocal(name) {
			return nil, fmt.Errorf("image archive: unsafe path %q", hdr.Name)
		}
		target := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return nil, err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return nil, err
			}
			w, err := os.Create(target)
			if err != nil {
				return nil, err
			}
			_, err = io.Copy(w, tr)
			if err := errors.Join(err, w.Close()); err != nil {
				return nil, err
			}
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("image archive: %d images, want 1", len(m.Manifests))
	}
	return idx.Image(m.Manifests[0].Digest)
}
