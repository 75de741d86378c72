package fsutil

import (
	"os"

	"golang.org/x/sys/unix"
)

// canSyncFS: on Linux one syncfs(2) makes every temp file durable at once.
const canSyncFS = true

func syncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
