// Command mkdata makes a deterministic directory that looks like a
// persistent volume (package internal/mkdata says what is in it), for
// tests, demos and benchmarks:
//
//	go run ./hack/mkdata DIR [--size MiB] [--seed N]          create the dataset
//	go run ./hack/mkdata DIR --mutate PERCENT [--seed N]      change about PERCENT % of it (a "next day")
//	go run ./hack/mkdata DIR --files N [--big-dir N] [--seed N]  N small files (mkdata.Files)
//	go run ./hack/mkdata FILE --bigfile MiB [--seed N]        one large file of mixed content (mkdata.BigFile)
//
// The same arguments always give the same bytes.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/cairn-backup/cairn/internal/mkdata"
)

func main() {
	fl := flag.NewFlagSet("mkdata", flag.ExitOnError)
	size := fl.Int("size", 1024, "approximate size in MiB")
	seed := fl.Uint64("seed", 1, "seed: another seed, another dataset")
	mutate := fl.Float64("mutate", -1, "change about this percent of an existing dataset instead")
	files := fl.Int("files", 0, "make this many small files instead (mkdata.Files)")
	bigDir := fl.Int("big-dir", 100000, "with --files: how many of them are in one directory")
	bigFile := fl.Int("bigfile", 0, "write one file of this many MiB at the path instead (mkdata.BigFile)")
	fl.Usage = func() {
		fmt.Fprintln(fl.Output(), "usage: mkdata DIR [--size MiB] [--seed N] | mkdata DIR --mutate PERCENT [--seed N]\n"+
			"       mkdata DIR --files N [--big-dir N] [--seed N] | mkdata FILE --bigfile MiB [--seed N]")
		fl.PrintDefaults()
	}
	// DIR may come before the flags or after them.
	var dirs []string
	for args := os.Args[1:]; ; {
		fl.Parse(args)
		if fl.NArg() == 0 {
			break
		}
		dirs, args = append(dirs, fl.Arg(0)), fl.Args()[1:]
	}
	if len(dirs) != 1 {
		fl.Usage()
		os.Exit(2)
	}
	var err error
	switch {
	case *mutate >= 0:
		err = mkdata.Mutate(dirs[0], *mutate, *seed)
	case *files > 0:
		err = mkdata.Files(dirs[0], *files, *bigDir, *seed)
	case *bigFile > 0:
		err = mkdata.BigFile(dirs[0], *bigFile, *seed)
	default:
		err = mkdata.Generate(dirs[0], *size, *seed)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
