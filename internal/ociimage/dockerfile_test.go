package ociimage_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/internal/ociimage"
)

// TestDockerfileMatchesImage (issue 14, "keep the Dockerfile equivalent"):
// the Dockerfile's final stage configures the image as ociimage.Build
// does — user, working directory, entrypoint and command, environment,
// exposed port, volume — and its build stage writes the same passwd and
// group files, the binary and CA bundle at the same paths, and the same
// owners and modes for /data, /home/nonroot and /tmp. A change to one
// that is not made to the other fails here.
func TestDockerfileMatchesImage(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages := dockerStages(string(raw))
	if len(stages) != 2 || !strings.HasPrefix(stages[1][0], "FROM scratch") {
		t.Fatalf("want a build stage and a final FROM scratch stage, got %d stages", len(stages))
	}
	build, final := strings.Join(stages[0], "\n"), map[string]string{}
	for _, ins := range stages[1][1:] {
		op, arg, _ := strings.Cut(ins, " ")
		final[op] = strings.TrimSpace(arg)
	}

	dir := t.TempDir()
	bin, certs := filepath.Join(dir, "aauth-ps"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(bin, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certs, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := ociimage.Build(ociimage.Spec{Binary: bin, CACerts: certs, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config

	jsonList := func(op string) []string {
		var v []string
		if err := json.Unmarshal([]byte(final[op]), &v); err != nil {
			t.Errorf("Dockerfile %s %q is not a JSON list: %v", op, final[op], err)
		}
		return v
	}
	if final["USER"] != c.User || c.User != ociimage.User {
		t.Errorf("USER %q, image %q", final["USER"], c.User)
	}
	if final["WORKDIR"] != c.WorkingDir {
		t.Errorf("WORKDIR %q, image %q", final["WORKDIR"], c.WorkingDir)
	}
	if got := jsonList("ENTRYPOINT"); !slices.Equal(got, c.Entrypoint) {
		t.Errorf("ENTRYPOINT %q, image %q", got, c.Entrypoint)
	}
	if got := jsonList("CMD"); !slices.Equal(got, c.Cmd) {
		t.Errorf("CMD %q, image %q", got, c.Cmd)
	}
	if got := jsonList("VOLUME"); !slices.Equal(got, slices.Sorted(maps.Keys(c.Volumes))) {
		t.Errorf("VOLUME %q, image %v", got, c.Volumes)
	}
	if got := final["EXPOSE"] + "/tcp"; !slices.Equal([]string{got}, slices.Sorted(maps.Keys(c.ExposedPorts))) {
		t.Errorf("EXPOSE %q, image %v", final["EXPOSE"], c.ExposedPorts)
	}
	if got := strings.Fields(final["ENV"]); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(c.Env))) {
		t.Errorf("ENV %q, image %q", got, c.Env)
	}

	files := flatten(t, img)
	for _, f := range []string{"etc/passwd", "etc/group"} {
		m := regexp.MustCompile(`printf '([^']*)' > /out/` + f).FindStringSubmatch(build)
		if m == nil || strings.ReplaceAll(m[1], `\n`, "\n") != files[f].body {
			t.Errorf("the Dockerfile's /%s %q, the image's %q", f, m, files[f].body)
		}
	}
	for _, path := range []string{ociimage.BinaryPath, ociimage.CACertsPath} {
		// cp names the file, or its directory.
		if !strings.Contains(build, "/out"+path) && !strings.Contains(build, "/out"+filepath.Dir(path)+"/ ") {
			t.Errorf("the Dockerfile does not put %s where the image has it", path)
		}
	}
	// Owners and modes: chown/chmod lines name the same directories the
	// image gives those owners and modes.
	for _, d := range []struct {
		name, chmod string
		uid         int
	}{{"data", "0700", 65532}, {"home/nonroot", "0700", 65532}, {"tmp", "1777", 0}} {
		h, ok := files[d.name+"/"]
		if !ok || h.Uid != d.uid || strings.TrimLeft(d.chmod, "0") != strconv.FormatInt(h.Mode&0o7777, 8) {
			t.Errorf("image /%s: %+v, want uid %d mode %s", d.name, h, d.uid, d.chmod)
		}
		if !regexp.MustCompile(`chmod ` + d.chmod + `( /out/\S+)* /out/` + regexp.QuoteMeta(d.name) + `\b`).MatchString(build) {
			t.Errorf("the Dockerfile does not chmod %s /out/%s", d.chmod, d.name)
		}
		if chowned := regexp.MustCompile(`chown 65532:65532( /out/\S+)* /out/` + regexp.QuoteMeta(d.name) + `\b`).MatchString(build); chowned != (d.uid == 65532) {
			t.Errorf("the Dockerfile's owner of /out/%s differs from the image's (uid %d)", d.name, d.uid)
		}
	}
}

// dockerStages splits a Dockerfile into its stages' instructions, with
// continuation lines joined and comments dropped.
func dockerStages(src string) [][]string {
	var stages [][]string
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		ins := cur.String()
		cur.Reset()
		if strings.HasPrefix(ins, "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], ins)
		}
	}
	return stages
}
