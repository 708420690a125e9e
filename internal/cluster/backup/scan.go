package backup

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/cairn-backup/cairn/internal/cluster/layout"
)

// The backup's hot path reads every listed object once: a List response is
// split into items by a byte scanner (strings, escapes and nesting only),
// and an item into its top-level and metadata fields, without decoding
// the values. This replaces json.Decoder's read of each item plus the
// decodes into maps and structs (three to four passes of encoding/json's
// scanner over every byte, most of the backup's CPU). The stored bytes
// are those decodeObject gives for the same item; an item the fast path
// does not handle exactly (escaped or non-ASCII field names, duplicate
// fields, a malformed field) goes through decodeObject.
//
// The scanner does not validate JSON the way encoding/json does (numbers
// and literals are copied, not checked): the API server's output is JSON.

// errSyntax reports a List response the scanner cannot split.
var errSyntax = errors.New("malformed JSON")

// rawScanner reads JSON values from a stream as raw bytes.
type rawScanner struct {
	br *bufio.Reader
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// peek returns the next byte that is not white space, without consuming it.
func (s *rawScanner) peek() (byte, error) {
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if !isSpace(c) {
			return c, s.br.UnreadByte()
		}
	}
}

// next consumes and returns the next byte that is not white space.
func (s *rawScanner) next() (byte, error) {
	c, err := s.peek()
	if err == nil {
		_, _ = s.br.ReadByte()
	}
	return c, err
}

// value appends the next JSON value to dst, as sent.
func (s *rawScanner) value(dst []byte) ([]byte, error) {
	c, err := s.peek()
	if err != nil {
		return dst, err
	}
	if c != '{' && c != '[' && c != '"' {
		return s.literal(dst)
	}
	depth, inStr, esc := 0, false, false
	for {
		if s.br.Buffered() == 0 {
			if _, err := s.br.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return dst, err
			}
		}
		chunk, _ := s.br.Peek(s.br.Buffered())
		for i := 0; i < len(chunk); i++ {
			c := chunk[i]
			if inStr {
				switch {
				case esc:
					esc = false
				case c == '\\':
					esc = true
				case c == '"':
					inStr = false
					if depth == 0 {
						dst = append(dst, chunk[:i+1]...)
						_, _ = s.br.Discard(i + 1)
						return dst, nil
					}
				default:
					// Skip to the next quote or backslash.
					j := bytes.IndexAny(chunk[i+1:], "\"\\")
					if j < 0 {
						i = len(chunk) - 1
					} else {
						i += j
					}
				}
				continue
			}
			switch c {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					dst = append(dst, chunk[:i+1]...)
					_, _ = s.br.Discard(i + 1)
					return dst, nil
				}
				if depth < 0 {
					return dst, errSyntax
				}
			}
		}
		dst = append(dst, chunk...)
		_, _ = s.br.Discard(len(chunk))
	}
}

// literal appends a number, true, false or null.
func (s *rawScanner) literal(dst []byte) ([]byte, error) {
	n := len(dst)
	for {
		c, err := s.br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return dst, err
		}
		if isSpace(c) || c == ',' || c == '}' || c == ']' || c == ':' {
			_ = s.br.UnreadByte()
			break
		}
		dst = append(dst, c)
	}
	if len(dst) == n {
		return dst, errSyntax
	}
	return dst, nil
}

// expect consumes the next byte that is not white space, which must be want.
func (s *rawScanner) expect(want byte) error {
	c, err := s.next()
	if err != nil {
		return err
	}
	if c != want {
		return fmt.Errorf("%w: want %q, have %q", errSyntax, want, c)
	}
	return nil
}

// decodeList streams a List response: it calls item with the raw JSON of
// each element of "items" (the slice is reused after item returns) and
// returns metadata.continue.
func decodeList(rd io.Reader, item func([]byte) error) (string, error) {
	s := &rawScanner{br: bufio.NewReaderSize(rd, 64<<10)}
	if err := s.expect('{'); err != nil {
		return "", err
	}
	var next string
	var buf []byte
	if c, err := s.peek(); err != nil {
		return "", err
	} else if c == '}' {
		_, _ = s.next()
		return "", nil
	}
	for {
		raw, err := s.value(buf[:0])
		if err != nil {
			return "", err
		}
		key, err := strconv.Unquote(string(raw))
		if err != nil || raw[0] != '"' {
			return "", fmt.Errorf("%w: field name %.40q", errSyntax, raw)
		}
		if err := s.expect(':'); err != nil {
			return "", err
		}
		switch key {
		case "metadata":
			if buf, err = s.value(buf[:0]); err != nil {
				return "", err
			}
			var lm struct {
				Continue string `json:"continue"`
			}
			if err := json.Unmarshal(buf, &lm); err != nil {
				return "", err
			}
			next = lm.Continue
		case "items":
			if buf, err = s.items(buf, item); err != nil {
				return "", err
			}
		default:
			if buf, err = s.value(buf[:0]); err != nil {
				return "", err
			}
		}
		c, err := s.next()
		if err != nil {
			return "", err
		}
		switch c {
		case ',':
		case '}':
			return next, nil
		default:
			return "", fmt.Errorf("%w: want ',' or '}', have %q", errSyntax, c)
		}
	}
}

// items reads the "items" array (or null), calling item for each element.
func (s *rawScanner) items(buf []byte, item func([]byte) error) ([]byte, error) {
	c, err := s.peek()
	if err != nil {
		return buf, err
	}
	if c == 'n' {
		lit, err := s.literal(buf[:0])
		if err == nil && string(lit) != "null" {
			err = fmt.Errorf("items: want an array, have %.40q", lit)
		}
		return lit, err
	}
	if err := s.expect('['); err != nil {
		return buf, fmt.Errorf("items: %w", err)
	}
	if c, err := s.peek(); err != nil {
		return buf, err
	} else if c == ']' {
		_, _ = s.next()
		return buf, nil
	}
	for {
		if buf, err = s.value(buf[:0]); err != nil {
			return buf, err
		}
		if err := item(buf); err != nil {
			return buf, err
		}
		c, err := s.next()
		if err != nil {
			return buf, err
		}
		switch c {
		case ',':
		case ']':
			return buf, nil
		default:
			return buf, fmt.Errorf("%w: items: want ',' or ']', have %q", errSyntax, c)
		}
	}
}

// field is one member of a JSON object: the field name (plain ASCII, see
// plainKey) and the value as sent.
type field struct {
	key []byte
	val []byte
}

func compareFields(a, b field) int { return bytes.Compare(a.key, b.key) }

// plainKeyBytes is plainKey for a field name as sent.
func plainKeyBytes(k []byte) bool {
	for _, c := range k {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// skipValue returns the end of the value that starts at b[i] (no white
// space before it).
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, true
			}
		}
		return 0, false
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := skipValue(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(b) && !isSpace(b[j]) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ':' {
		j++
	}
	return j, j > i
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// splitObject appends the members of the JSON object b to dst, values as
// sent. ok is false when b is not an object the fast path handles: not
// an object, a field name that needs escaping or unescaping, or a field
// given twice.
func splitObject(dst []field, b []byte) ([]field, bool) {
	n := len(dst)
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return dst, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return dst, skipSpace(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return dst, false
		}
		end := bytes.IndexByte(b[i+1:], '"')
		if end < 0 {
			return dst, false
		}
		key := b[i+1 : i+1+end]
		if !plainKeyBytes(key) {
			return dst, false
		}
		i = skipSpace(b, i+2+end)
		if i >= len(b) || b[i] != ':' {
			return dst, false
		}
		i = skipSpace(b, i+1)
		vEnd, ok := skipValue(b, i)
		if !ok {
			return dst, false
		}
		dst = append(dst, field{key: key, val: b[i:vEnd]})
		i = skipSpace(b, vEnd)
		if i >= len(b) {
			return dst, false
		}
		if b[i] == '}' {
			if skipSpace(b, i+1) != len(b) {
				return dst, false
			}
			break
		}
		if b[i] != ',' {
			return dst, false
		}
		i = skipSpace(b, i+1)
	}
	fs := dst[n:]
	slices.SortFunc(fs, compareFields)
	for k := 1; k < len(fs); k++ {
		if bytes.Equal(fs[k].key, fs[k-1].key) {
			return dst, false
		}
	}
	return dst, true
}

// appendFields writes sorted fields as a JSON object.
func appendFields(dst []byte, fs []field) []byte {
	dst = append(dst, '{')
	for i, f := range fs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, f.key...)
		dst = append(dst, '"', ':')
		dst = append(dst, f.val...)
	}
	return append(dst, '}')
}

// plainString decodes a JSON string without escapes; ok is false for
// anything else (decodeObject then decides).
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' || bytes.IndexByte(v, '\\') >= 0 {
		return "", false
	}
	for _, c := range v[1 : len(v)-1] {
		if c < 0x20 || c >= 0x80 { // control characters, and UTF-8 that encoding/json would check
			return "", false
		}
	}
	return string(v[1 : len(v)-1]), true
}

// decodeItem is decodeObject for one raw list item: the same object and
// stored bytes. raw may be reused by the caller once it returns.
func decodeItem(raw []byte, r layout.Resource) (*object, error) {
	if obj, ok := decodeItemFast(raw, r); ok {
		return obj, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, err
	}
	return decodeObject(top, r)
}

func decodeItemFast(raw []byte, r layout.Resource) (*object, bool) {
	var fsBuf [16]field
	top, ok := splitObject(fsBuf[:0], raw)
	if !ok {
		return nil, false
	}
	var mdRaw []byte
	keep := top[:0]
	for _, f := range top {
		switch string(f.key) {
		case "metadata":
			mdRaw = f.val
		case "apiVersion", "kind":
		default:
			keep = append(keep, f)
		}
	}
	if mdRaw == nil {
		return nil, false
	}
	var mdBuf [24]field
	md, ok := splitObject(mdBuf[:0], mdRaw)
	if !ok {
		return nil, false
	}
	obj := &object{}
	mdKeep := md[:0]
	for _, f := range md {
		var ok bool
		switch string(f.key) {
		case "managedFields":
			continue
		case "name":
			obj.meta.Name, ok = plainString(f.val)
		case "namespace":
			obj.meta.Namespace, ok = plainString(f.val)
		case "creationTimestamp":
			obj.meta.CreationTimestamp, ok = plainString(f.val)
		case "labels":
			ok = json.Unmarshal(f.val, &obj.meta.Labels) == nil
		case "annotations":
			ok = json.Unmarshal(f.val, &obj.meta.Annotations) == nil
		default:
			// encoding/json matches struct fields case-insensitively
			// ("Name" sets meta.Name): leave those to decodeObject.
			ok = !metaFieldFold(f.key)
		}
		if !ok {
			return nil, false
		}
		mdKeep = append(mdKeep, f)
	}
	if obj.meta.Name == "" {
		return nil, false
	}
	get := func(k string) (json.RawMessage, bool) {
		for _, f := range keep {
			if string(f.key) == k {
				return f.val, true
			}
		}
		return nil, false
	}
	if obj.decodeRefs(get, r) != nil {
		return nil, false
	}
	// The metadata is written in place: its value is nil here.
	keep = append(keep, field{keyAPIVersion, []byte(strconv.Quote(apiVersion(r)))}, field{keyKind, []byte(strconv.Quote(r.Kind))},
		field{keyMetadata, nil})
	slices.SortFunc(keep, compareFields)
	data := make([]byte, 0, len(raw)+len(r.Group)+len(r.Version)+len(r.Kind)+32)
	data = append(data, '{')
	for i, f := range keep {
		if i > 0 {
			data = append(data, ',')
		}
		data = append(data, '"')
		data = append(data, f.key...)
		data = append(data, '"', ':')
		if f.val == nil {
			data = appendFields(data, mdKeep)
		} else {
			data = append(data, f.val...)
		}
	}
	obj.data = append(data, '}')
	return obj, true
}

// metaFieldFold reports whether k names a field of meta in another case.
func metaFieldFold(k []byte) bool {
	for _, n := range metaFields {
		if len(k) == len(n) && bytes.EqualFold(k, n) {
			return true
		}
	}
	return false
}

var metaFields = [][]byte{[]byte("name"), []byte("namespace"), []byte("labels"), []byte("annotations"), []byte("creationTimestamp")}

var (
	keyAPIVersion = []byte("apiVersion")
	keyKind       = []byte("kind")
	keyMetadata   = []byte("metadata")
)
