package flows

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Input is one file (or stdin) to decode.
type Input struct {
	Name  string // for display and problems
	Path  string
	Stdin bool
}

// StdinName is the display name of standard input.
const StdinName = "<stdin>"

// ExpandInputs turns command-line arguments into inputs:
//
//   - "-" is standard input;
//   - a file is taken as is, whatever its name;
//   - a directory is walked recursively for *.log, *.log.N (rotations),
//     *.json, *.ndjson, *.jsonl and *.txt files, each optionally .gz,
//     skipping hidden files and directories;
//   - anything with *, ? or [ is a filepath.Glob pattern (no **); matched
//     directories are walked as above.
//
// Each argument's files are sorted by path, except that rotations of one
// log come oldest first (flows.log.3, flows.log.2, flows.log.1, then
// flows.log). Arguments keep their order; a path named twice is kept once.
// An argument that matches nothing is an error naming it.
func ExpandInputs(args []string) ([]Input, error) {
	var out []Input
	seen := map[string]bool{}
	add := func(paths []string) {
		sortInputPaths(paths)
		for _, p := range paths {
			if !seen[p] {
				seen[p] = true
				out = append(out, Input{Name: p, Path: p})
			}
		}
	}
	for _, arg := range args {
		if arg == "-" {
			if !seen["-"] {
				seen["-"] = true
				out = append(out, Input{Name: StdinName, Stdin: true})
			}
			continue
		}
		if strings.ContainsAny(arg, "*?[") {
			matches, err := filepath.Glob(arg)
			if err != nil {
				return nil, fmt.Errorf("bad pattern %q: %w", arg, err)
			}
			var paths []string
			for _, m := range matches {
				fi, err := os.Stat(m)
				if err != nil {
					return nil, err
				}
				if fi.IsDir() {
					found, err := walkInputDir(m)
					if err != nil {
						return nil, err
					}
					paths = append(paths, found...)
				} else {
					paths = append(paths, filepath.Clean(m))
				}
			}
			if len(paths) == 0 {
				return nil, fmt.Errorf("no flow-log files match %q", arg)
			}
			add(paths)
			continue
		}
		fi, err := os.Stat(arg)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("input %q does not exist", arg)
			}
			return nil, fmt.Errorf("input %q: %w", arg, err)
		}
		if !fi.IsDir() {
			add([]string{filepath.Clean(arg)})
			continue
		}
		found, err := walkInputDir(arg)
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("directory %q holds no flow-log files (*.log, *.log.N, *.json, *.ndjson, *.jsonl, *.txt, optionally .gz)", arg)
		}
		add(found)
	}
	return out, nil
}

func walkInputDir(root string) ([]string, error) {
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && isFlowFileName(d.Name()) {
			paths = append(paths, filepath.Clean(p))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walking %q: %w", root, err)
	}
	return paths, nil
}

// isFlowFileName reports whether a directory walk picks up the file.
func isFlowFileName(name string) bool {
	name = strings.TrimSuffix(name, ".gz")
	for _, ext := range []string{".log", ".json", ".ndjson", ".jsonl", ".txt"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	_, n := rotation(name)
	return n > 0
}

// rotation splits "x.log.3" into ("x.log", 3); other names give (name, 0).
// A .gz suffix is ignored.
func rotation(name string) (string, int) {
	name = strings.TrimSuffix(name, ".gz")
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return name, 0
	}
	n, err := strconv.Atoi(name[dot+1:])
	if err != nil || n <= 0 || !strings.HasSuffix(name[:dot], ".log") {
		return name, 0
	}
	return name[:dot], n
}

// sortInputPaths sorts by path, rotations of the same log oldest first.
func sortInputPaths(paths []string) {
	sort.SliceStable(paths, func(i, j int) bool {
		si, ni := rotation(paths[i])
		sj, nj := rotation(paths[j])
		if si != sj {
			return si < sj
		}
		if ni != nj {
			// Higher rotation numbers are older; the live file (0) is last.
			if ni == 0 || nj == 0 {
				return nj == 0
			}
			return ni > nj
		}
		return paths[i] < paths[j]
	})
}

// Open opens the input. Gzip is detected by its magic bytes, not the file
// name, and decompressed transparently; a truncated or corrupt stream
// surfaces from Read as a *GzipError, which Decode reports as a
// "truncated gzip" problem after the records before it.
func (in Input) Open() (io.ReadCloser, error) {
	var f io.ReadCloser
	if in.Stdin {
		f = io.NopCloser(os.Stdin)
	} else {
		file, err := os.Open(in.Path)
		if err != nil {
			return nil, err
		}
		f = file
	}
	br := bufio.NewReaderSize(f, 64<<10)
	if head, _ := br.Peek(2); bytes.Equal(head, gzipMagic) {
		return readCloser{Reader: &gzipReader{src: br}, c: f}, nil
	}
	return readCloser{Reader: br, c: f}, nil
}

// DecodeInput opens in, decodes it with Decode and closes it.
func DecodeInput(ctx context.Context, in Input, opt Options, emit func(worker int, f *Flow) error) (Stats, error) {
	rc, err := in.Open()
	if err != nil {
		return Stats{}, err
	}
	defer rc.Close()
	return Decode(ctx, rc, in.Name, opt, emit)
}

type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }

// GzipError reports a gzip stream that is truncated or corrupt.
type GzipError struct{ Err error }

func (e *GzipError) Error() string { return "gzip: " + e.Err.Error() }
func (e *GzipError) Unwrap() error { return e.Err }

// gzipReader decompresses src, opening the gzip stream on first Read so a
// damaged header is reported like any other damage. Concatenated members
// (as gzip -c a b, or rotated logs cat'ed together) are read through.
type gzipReader struct {
	src io.Reader
	zr  *gzip.Reader
	err error
}

func (g *gzipReader) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.zr == nil {
		zr, err := gzip.NewReader(g.src)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			g.err = &GzipError{err}
			return 0, g.err
		}
		g.zr = zr
	}
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		g.err = &GzipError{err}
		return n, g.err
	}
	return n, err
}
