package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/cairn-backup/cairn/internal/repo/blob"
)

func TestTreeInvariants(t *testing.T) {
	sub := blob.ID{7}
	good := &Tree{Nodes: []Node{{Name: "a", Type: TypeFile}, {Name: "b", Type: TypeDir, Subtree: &sub}}}
	b, _ := EncodeTree(good)
	if _, err := DecodeTree(b); err != nil {
		t.Fatal(err)
	}
	for name, tr := range map[string]*Tree{
		"unsorted":   {Nodes: []Node{{Name: "b", Type: TypeFile}, {Name: "a", Type: TypeFile}}},
		"duplicate":  {Nodes: []Node{{Name: "a", Type: TypeFile}, {Name: "a", Type: TypeFile}}},
		"slash":      {Nodes: []Node{{Name: "a/b", Type: TypeFile}}},
		"dotdot":     {Nodes: []Node{{Name: "..", Type: TypeFile}}},
		"no subtree": {Nodes: []Node{{Name: "d", Type: TypeDir}}},
		"bad type":   {Nodes: []Node{{Name: "x", Type: "weird"}}},
	} {
		b, _ := EncodeTree(tr)
		if _, err := DecodeTree(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNonUTF8NamesSurvive(t *testing.T) {
	var n Node
	n.SetName("bad\xffname")
	n.Type = TypeFile
	b, _ := EncodeTree(&Tree{Nodes: []Node{n}})
	tr, err := DecodeTree(b)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Nodes[0].RawName() != "bad\xffname" {
		t.Fatalf("name = %q", tr.Nodes[0].RawName())
	}
}

func FuzzDecodeTree(f *testing.F) {
	b, _ := EncodeTree(&Tree{Nodes: []Node{{Name: "a", Type: TypeFile, Content: []blob.ID{{1}}}}})
	f.Add(b)
	f.Add([]byte(`{"nodes":[{"name":"x","type":"dir","subtree":"` + blob.ID{}.String() + `"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := DecodeTree(b)
		if err != nil {
			return
		}
		enc, _ := EncodeTree(tr)
		if _, err := DecodeTree(enc); err != nil {
			t.Fatalf("re-encoding a decoded tree fails: %v", err)
		}
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-21T00:00:00Z","host":"h","paths":["/x"],"tree":"` + blob.ID{1}.String() + `"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode("id", b)
		if err == nil && s.Tree.IsZero() {
			t.Fatal("accepted a snapshot without a tree")
		}
	})
}

// EncodeTree must give json.Marshal's bytes exactly: a tree's ID is the
// hash of its encoding, and the same directory must dedup against trees
// saved by earlier versions.
func TestEncodeTreeIsJSONMarshal(t *testing.T) {
	sub := blob.ID{9}
	trees := map[string]*Tree{
		"nil":   {},
		"empty": {Nodes: []Node{}},
		"one":   {Nodes: []Node{{Name: "a", Type: TypeFile, Size: 3, Content: []blob.ID{{1}}}}},
		"mixed": {Nodes: []Node{
			{Name: "dir", Type: TypeDir, Mode: 0o755, Subtree: &sub, Xattrs: []Xattr{{Name: "user.x", Value: []byte{0, 1, 2}}}},
			{Name: "f<&>\u2028", Type: TypeFile, UID: 1000, GID: 1000, User: "u", Group: "g", ModTime: 1, ChangeTime: 2, Inode: 3, Links: 2, Size: 1 << 40,
				Content: []blob.ID{{1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}}, Sparse: true},
			{Name: "\xff", NameBytes: []byte{0xff}, Type: TypeSymlink, LinkTarget: "x", LinkBytes: []byte{0xfe}},
			{Name: "gone", Type: TypeFile, Error: "open: permission denied \"quoted\""},
		}},
	}
	for i := 0; i < 500; i++ {
		n := Node{Name: fmt.Sprintf("msg-%07d.eml", i), Type: TypeFile, Mode: 0o644, ModTime: int64(i) * 7919}
		for range i % 9 {
			n.Content = append(n.Content, blob.ID{byte(i)})
		}
		if trees["many"] == nil {
			trees["many"] = &Tree{}
		}
		trees["many"].Nodes = append(trees["many"].Nodes, n)
	}
	for name, tr := range trees {
		want, err := json.Marshal(tr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := EncodeTree(tr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: EncodeTree =\n%s\nwant json.Marshal's\n%s", name, got, want)
		}
	}
}
