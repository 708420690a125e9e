package snapshot

import (
	"encoding/json"
	"fmt"
	"sort"
	"unicode/utf8"

	"github.com/cairn-backup/cairn/internal/repo/blob"
)

// Node types.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
	TypeDevice  = "dev"     // block device: recorded, never read
	TypeChar    = "chardev" // character device: recorded, never read
	TypeFIFO    = "fifo"    // recorded, never read
	TypeSocket  = "socket"  // recorded, never read, not restored
)

// Xattr is one extended attribute.
type Xattr struct {
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// Node is one directory entry with its metadata. Times are nanoseconds
// since the Unix epoch.
type Node struct {
	Name string `json:"name"`
	// NameBytes holds the name when it is not valid UTF-8 (JSON strings
	// cannot carry such bytes); Name then holds a lossy form for display.
	NameBytes  []byte    `json:"name_bytes,omitempty"`
	Type       string    `json:"type"`
	Mode       uint32    `json:"mode"` // permission, setuid/setgid/sticky bits (07777)
	UID        uint32    `json:"uid"`
	GID        uint32    `json:"gid"`
	User       string    `json:"user,omitempty"`
	Group      string    `json:"group,omitempty"`
	ModTime    int64     `json:"mtime"`
	AccessTime int64     `json:"atime,omitempty"` // not recorded by cairn (reading changes it); restored as mtime when absent
	ChangeTime int64     `json:"ctime,omitempty"`
	Inode      uint64    `json:"inode,omitempty"`
	DeviceID   uint64    `json:"device_id,omitempty"` // st_dev of the file system, for hard links
	Links      uint64    `json:"links,omitempty"`
	Size       uint64    `json:"size,omitempty"`
	LinkTarget string    `json:"link_target,omitempty"`
	LinkBytes  []byte    `json:"link_target_bytes,omitempty"` // LinkTarget when not valid UTF-8
	Rdev       uint64    `json:"rdev,omitempty"`              // device number of device nodes
	Xattrs     []Xattr   `json:"xattrs,omitempty"`
	Content    []blob.ID `json:"content,omitempty"` // file: its chunks in order
	Subtree    *blob.ID  `json:"subtree,omitempty"` // dir: its tree
	// Sparse marks a file that had holes; on restore, runs of zeros are
	// written as holes.
	Sparse bool `json:"sparse,omitempty"`
	// Error records why an entry could not be read; it has no content.
	Error string `json:"error,omitempty"`
}

// SetName sets the name, keeping the exact bytes when they are not UTF-8.
func (n *Node) SetName(name string) {
	n.Name, n.NameBytes = name, nil
	if !utf8.ValidString(name) {
		n.NameBytes = []byte(name)
		n.Name = string([]rune(name))
	}
}

// RawName returns the exact name.
func (n *Node) RawName() string {
	if n.NameBytes != nil {
		return string(n.NameBytes)
	}
	return n.Name
}

// SetLinkTarget sets the symlink target, keeping exact bytes.
func (n *Node) SetLinkTarget(t string) {
	n.LinkTarget, n.LinkBytes = t, nil
	if !utf8.ValidString(t) {
		n.LinkBytes = []byte(t)
		n.LinkTarget = string([]rune(t))
	}
}

// RawLinkTarget returns the exact symlink target.
func (n *Node) RawLinkTarget() string {
	if n.LinkBytes != nil {
		return string(n.LinkBytes)
	}
	return n.LinkTarget
}

// Tree is the content of one directory, sorted by raw name.
type Tree struct {
	Nodes []Node `json:"nodes"`
}

// Sort orders the nodes by raw name.
func (t *Tree) Sort() {
	sort.Slice(t.Nodes, func(i, j int) bool { return t.Nodes[i].RawName() < t.Nodes[j].RawName() })
}

// Find returns the node with the raw name, or nil.
func (t *Tree) Find(name string) *Node {
	i := sort.Search(len(t.Nodes), func(i int) bool { return t.Nodes[i].RawName() >= name })
	if i < len(t.Nodes) && t.Nodes[i].RawName() == name {
		return &t.Nodes[i]
	}
	return nil
}

// EncodeTree encodes a tree as a blob's plaintext: the bytes of
// json.Marshal(t), made node by node into one buffer sized from the first
// node, so that a large directory's encoding is about its size once (json.Marshal
// grows a buffer by doubling and then copies it: ≈ 2–3 × the tree at its
// peak, 60 MB for a directory of 100,000 files).
func EncodeTree(t *Tree) ([]byte, error) {
	if t.Nodes == nil {
		return json.Marshal(t)
	}
	const head, tail = `{"nodes":[`, `]}`
	var b []byte
	for i := range t.Nodes {
		nb, err := json.Marshal(&t.Nodes[i])
		if err != nil {
			return nil, fmt.Errorf("tree: %w", err)
		}
		if b == nil {
			// The entries of a directory are mostly alike; a bigger one
			// later costs a regrowth (by a quarter), not a doubling.
			b = make([]byte, 0, len(head)+len(tail)+len(t.Nodes)*(len(nb)+1)*9/8)
			b = append(b, head...)
		} else {
			b = append(b, ',')
		}
		b = append(b, nb...)
	}
	if b == nil {
		b = append(b, head...)
	}
	return append(b, tail...), nil
}

// DecodeTree parses a tree blob and checks its invariants.
func DecodeTree(b []byte) (*Tree, error) {
	var t Tree
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("tree: %w", err)
	}
	prev := ""
	for i := range t.Nodes {
		n := &t.Nodes[i]
		name := n.RawName()
		if name == "" || name == "." || name == ".." || containsSlash(name) {
			return nil, fmt.Errorf("tree: entry %d has invalid name %q", i, name)
		}
		if i > 0 && name <= prev {
			return nil, fmt.Errorf("tree: entries not sorted or duplicated at %q", name)
		}
		prev = name
		switch n.Type {
		case TypeDir:
			if n.Subtree == nil && n.Error == "" {
				return nil, fmt.Errorf("tree: directory %q has no subtree", name)
			}
		case TypeFile, TypeSymlink, TypeDevice, TypeChar, TypeFIFO, TypeSocket:
		default:
			return nil, fmt.Errorf("tree: entry %q has unknown type %q", name, n.Type)
		}
	}
	return &t, nil
}

func containsSlash(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == 0 {
			return true
		}
	}
	return false
}
