package snapshot

import (
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
