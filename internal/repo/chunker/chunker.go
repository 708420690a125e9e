package chunker

import (
	"errors"
	"io"
)

// Sizes of chunks. They are part of the repository format (see
// docs/design/repository-format.md): changing them makes new backups stop
// deduplicating against old ones, nothing worse.
const (
	MinSize = 256 << 10 // no cut before this
	AvgSize = 1 << 20   // target average
	MaxSize = 4 << 20   // forced cut

	bitsAvg = 20
	// Normalized chunking, level 2: a harder mask before AvgSize, an easier
	// one after it, which narrows the spread of chunk sizes around AvgSize.
	maskS = uint64(1<<(bitsAvg+2)-1) << (64 - (bitsAvg + 2))
	maskL = uint64(1<<(bitsAvg-2)-1) << (64 - (bitsAvg - 2))
)

// Table is a gear table: one pseudo-random 64-bit value per byte value.
type Table [256]uint64

// NewTable expands seed with SplitMix64 into a gear table.
func NewTable(seed uint64) *Table {
	var t Table
	x := seed
	for i := range t {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		t[i] = z ^ (z >> 31)
	}
	return &t
}

// Cut returns the length of the first chunk of data. data holds either at
// least MaxSize bytes or the whole rest of the stream.
func (t *Table) Cut(data []byte) int {
	n := len(data)
	if n <= MinSize {
		return n
	}
	if n > MaxSize {
		n = MaxSize
	}
	normal := AvgSize
	if n < normal {
		normal = n
	}
	var fp uint64
	i := MinSize
	for ; i < normal; i++ {
		fp = (fp << 1) + t[data[i]]
		if fp&maskS == 0 {
			return i + 1
		}
	}
	for ; i < n; i++ {
		fp = (fp << 1) + t[data[i]]
		if fp&maskL == 0 {
			return i + 1
		}
	}
	return n
}

// Chunker reads a stream and returns its chunks one by one.
type Chunker struct {
	table *Table
	r     io.Reader
	buf   []byte
	start int // first unread byte in buf
	end   int // end of valid data in buf
	eof   bool
}

// BufferSize is the read buffer a chunker needs: refilling moves at most
// MaxSize bytes to the front for every MaxSize read.
const BufferSize = 2 * MaxSize

// New returns a chunker over r. buf, if at least BufferSize long, is used as
// the read buffer (callers reuse it across files); otherwise one is made.
func New(table *Table, r io.Reader, buf []byte) *Chunker {
	if len(buf) < BufferSize {
		buf = make([]byte, BufferSize)
	}
	return &Chunker{table: table, r: r, buf: buf}
}

// Reset points the chunker at a new stream, keeping its buffer.
func (c *Chunker) Reset(r io.Reader) {
	c.r, c.start, c.end, c.eof = r, 0, 0, false
}

// Buffer returns the chunker's read buffer, for reuse.
func (c *Chunker) Buffer() []byte { return c.buf }

// Next returns the next chunk. The slice is valid until the next call.
// At the end of the stream it returns io.EOF.
func (c *Chunker) Next() ([]byte, error) {
	if c.end-c.start < MaxSize && !c.eof {
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
	if c.start == c.end {
		return nil, io.EOF
	}
	n := c.table.Cut(c.buf[c.start:c.end])
	chunk := c.buf[c.start : c.start+n]
	c.start += n
	return chunk, nil
}

func (c *Chunker) fill() error {
	if c.start > 0 {
		c.end = copy(c.buf, c.buf[c.start:c.end])
		c.start = 0
	}
	for c.end < len(c.buf) && !c.eof {
		n, err := c.r.Read(c.buf[c.end:])
		c.end += n
		if errors.Is(err, io.EOF) {
			c.eof = true
			break
		}
		if err != nil {
			return err
		}
		if n == 0 {
			// A reader that returns 0, nil repeatedly would spin; io.Reader
			// discourages it, and files never do it.
			continue
		}
	}
	return nil
}
