//go:build unix

package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// LockName is the file whose exclusive lock keeps two writers of a store
// apart (Lock).
const LockName = ".calico-plan.lock"

// Lock takes an exclusive advisory lock on dir/.calico-plan.lock so that two
// processes never write one store at once. It fails at once if another
// process holds it. dir must exist: only a writer that is about to save
// creates a store directory.
func Lock(dir string) (unlock func(), err error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("store %s is in use by another calico-plan process (%s)", dir, path)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// lockDir locks the directory itself (flock on its descriptor, so a reader
// creates no file): exclusive for the short time a WriteFiles runs, shared
// while ReadFiles reads. It waits for a conflicting holder; the kernel
// releases the lock of a process that dies.
func lockDir(dir string, exclusive bool) (unlock func(), err error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	fi, err := d.Stat()
	if err != nil {
		d.Close()
		return nil, err
	}
	if !fi.IsDir() {
		d.Close()
		return nil, &fs.PathError{Op: "lock", Path: dir, Err: errors.New("not a directory")}
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(d.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() {
		syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
		d.Close()
	}, nil
}
