# cairn — see README.md. `make demo` runs the main job, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
TOOLS := $(CURDIR)/.cache/bin
export PATH := $(TOOLS):$(PATH)

.PHONY: all build build-fs tools node-deps generate lint test test-unit demo bench clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -o $(BIN)/ ./cmd/...

# bin/cairn-fs: cairn for directories and repositories only (fs, snapshots,
# ls, forget, repo, replicate; local and S3 repositories), without the
# Kubernetes libraries: a third of the resident memory of every command
# (docs/benchmarks.md). Same commands, flags and repository format.
build-fs:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -tags fsonly -o $(BIN)/cairn-fs ./cmd/cairn

# The OCI image, built without a container engine (hack/image): static
# binaries on an empty base, as an OCI layout and a tarball for docker/podman load.
IMAGE ?= ghcr.io/cairn-backup/cairn:dev
image:
	$(GO) run ./hack/image -layout $(BIN)/image/oci -tar $(BIN)/image/cairn.tar -tag $(IMAGE)

# Real components for the tests (kube-apiserver, etcd, …, staticcheck), built
# from the Go module proxy into .cache/bin and reused when present.
tools:
	@hack/build-tools.sh

# What the tests' real node needs beyond .cache/bin: containerd, runc, CNI
# plugins and busybox from Debian (installed when missing, as root), and the
# busybox and sandbox images in .cache/images. See docs/design/test-node.md.
node-deps:
	@hack/node-deps.sh

# Deepcopy functions of api/v1alpha1 and the CRDs in the Helm chart, by
# controller-gen (hack/tools/gen). api/v1alpha1's TestGeneratedFilesCurrent
# fails when the committed files are stale.
generate:
	@CAIRN_TOOLS_ONLY=controller-gen hack/build-tools.sh >/dev/null
	$(TOOLS)/controller-gen object paths=./api/... crd:crdVersions=v1 output:crd:dir=deploy/helm/cairn/crds

# lint and demo build only the tools they run (velero, for the import
# tests, is the costliest to build cold).
DEMO_TOOLS := etcd kube-apiserver kube-controller-manager kube-scheduler kubelet

lint:
	@CAIRN_TOOLS_ONLY=staticcheck hack/build-tools.sh >/dev/null
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files --others --exclude-standard '*.go' 2>/dev/null)); \
	  if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags fsonly ./internal/cli/... ./cmd/cairn
	$(TOOLS)/staticcheck ./...

test-unit:
	$(GO) test ./...

test: tools node-deps lint build
	CAIRN_TOOLS=$(TOOLS) GO=$(GO) hack/test.sh

demo: node-deps build
	@CAIRN_TOOLS_ONLY="$(DEMO_TOOLS)" hack/build-tools.sh
	@hack/demo.sh

bench: build-fs
	@hack/bench/run.sh

clean:
	rm -rf $(BIN)
