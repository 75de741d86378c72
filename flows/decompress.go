package flows

import (
	"bufio"
	"bytes"
	"io"
)

// Decompress returns r's content, gunzipped when it starts with the gzip
// magic bytes. A truncated or corrupt gzip stream surfaces from Read as a
// *GzipError, which Decode reports as a "truncated gzip" problem.
func Decompress(r io.Reader) io.Reader {
	br := bufio.NewReaderSize(r, 64<<10)
	if head, _ := br.Peek(2); bytes.Equal(head, gzipMagic) {
		return &gzipReader{src: br}
	}
	return br
}
