package diff

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/calico-plan/calico-plan/allowlist"
)

// git runs a read-only git command in dir.
func git(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return out.Bytes(), nil
}

// repoPath returns the repository's top directory and dir's path inside
// it (slash-separated, "" for the top). dir need not exist.
func repoPath(dir string) (top, rel string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	// The nearest existing ancestor runs git and resolves symlinks.
	existing, rest := abs, ""
	for {
		if _, err := os.Stat(existing); err == nil {
			break
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			return "", "", fmt.Errorf("%s: no existing directory", dir)
		}
		rest = filepath.Join(filepath.Base(existing), rest)
		existing = parent
	}
	out, err := git(existing, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", "", fmt.Errorf("store %s is not in a git repository: %w", dir, err)
	}
	top = strings.TrimSpace(string(out))
	realTop, err := filepath.EvalSymlinks(top)
	if err != nil {
		return "", "", err
	}
	realExisting, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return "", "", err
	}
	r, err := filepath.Rel(realTop, filepath.Join(realExisting, rest))
	if err != nil || strings.HasPrefix(r, "..") {
		return "", "", fmt.Errorf("store %s is outside the repository %s", dir, top)
	}
	r = filepath.ToSlash(r)
	if r == "." {
		r = ""
	}
	return top, r, nil
}

// StoreAtRef reads the allowlist files (<dir>/*.yaml, not _store.yaml or
// hidden files) of the store directory as they are in a git ref, with
// read-only git commands (rev-parse, ls-tree, show). A ref where the
// directory does not exist gives an empty store.
func StoreAtRef(ref, dir string) ([]*allowlist.Namespace, error) {
	top, rel, err := repoPath(dir)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(ref, "-") {
		return nil, fmt.Errorf("--base %q: not a git ref", ref)
	}
	if _, err := git(top, "rev-parse", "--verify", "--quiet", ref+"^{commit}"); err != nil {
		return nil, fmt.Errorf("--base %q: not a commit in %s", ref, top)
	}
	spec := rel + "/"
	if rel == "" {
		spec = "."
	}
	out, err := git(top, "ls-tree", "-z", "--name-only", ref, "--", spec)
	if err != nil {
		return nil, err
	}
	var nss []*allowlist.Namespace
	var errs []string
	for _, name := range strings.Split(string(out), "\x00") {
		base := path.Base(name)
		if name == "" || !strings.HasSuffix(base, ".yaml") || strings.HasPrefix(base, "_") || strings.HasPrefix(base, ".") {
			continue
		}
		b, err := git(top, "show", ref+":"+name)
		if err != nil {
			return nil, err
		}
		n, err := allowlist.ParseNamespace(b, ref+":"+name)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if want := strings.TrimSuffix(base, ".yaml"); n.Namespace != want {
			errs = append(errs, fmt.Sprintf("%s:%s: namespace %q does not match the file name", ref, name, n.Namespace))
			continue
		}
		nss = append(nss, n)
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return nss, nil
}
