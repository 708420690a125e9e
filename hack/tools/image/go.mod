module github.com/cairn-backup/cairn/hack/tools/image

go 1.24.0
