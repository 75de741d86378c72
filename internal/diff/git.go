package diff

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
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
// read-only git commands: rev-parse, one ls-tree for the names and blob
// ids, and one `git cat-file --batch` for every file's content. A ref where
// the directory does not exist gives an empty store.
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
	out, err := git(top, "ls-tree", "-z", ref, "--", spec)
	if err != nil {
		return nil, err
	}
	var names, blobs []string
	for _, rec := range strings.Split(string(out), "\x00") {
		// "<mode> SP <type> SP <object> TAB <path>"
		meta, name, ok := strings.Cut(rec, "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta)
		base := path.Base(name)
		if len(f) != 3 || f[1] != "blob" || !strings.HasSuffix(base, ".yaml") || strings.HasPrefix(base, "_") || strings.HasPrefix(base, ".") {
			continue
		}
		names = append(names, name)
		blobs = append(blobs, f[2])
	}
	contents, err := catBlobs(top, blobs)
	if err != nil {
		return nil, err
	}
	var nss []*allowlist.Namespace
	var errs []string
	for i, name := range names {
		n, err := allowlist.ParseNamespace(contents[i], ref+":"+name)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if want := strings.TrimSuffix(path.Base(name), ".yaml"); n.Namespace != want {
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

// catBlobs reads blobs by id with one `git cat-file --batch` process
// (instead of one `git show` per file).
func catBlobs(dir string, ids []string) ([][]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var in bytes.Buffer
	for _, id := range ids {
		in.WriteString(id)
		in.WriteByte('\n')
	}
	cmd := exec.Command("git", "-C", dir, "cat-file", "--batch")
	cmd.Stdin = &in
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("git cat-file --batch: %s", strings.TrimSpace(stderr.String()+" "+err.Error()))
	}
	rd := bufio.NewReader(&out)
	res := make([][]byte, len(ids))
	for i, id := range ids {
		// "<object> SP <type> SP <size> LF <contents> LF", or "<object> SP missing LF".
		hdr, err := rd.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("git cat-file --batch: %s: short answer", id)
		}
		f := strings.Fields(hdr)
		if len(f) != 3 || f[0] != id || f[1] != "blob" {
			return nil, fmt.Errorf("git cat-file --batch: %s: unexpected answer %q", id, strings.TrimSpace(hdr))
		}
		size, err := strconv.Atoi(f[2])
		if err != nil || size < 0 {
			return nil, fmt.Errorf("git cat-file --batch: %s: bad size %q", id, f[2])
		}
		b := make([]byte, size+1)
		if _, err := io.ReadFull(rd, b); err != nil || b[size] != '\n' {
			return nil, fmt.Errorf("git cat-file --batch: %s: truncated content", id)
		}
		res[i] = b[:size]
	}
	return res, nil
}
