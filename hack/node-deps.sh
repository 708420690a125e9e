#!/usr/bin/env bash
# Prepares what the tests' real node needs beyond .cache/bin (see
# internal/kubetest, docs/design/test-node.md), idempotently:
#
#  1. Debian packages, installed when missing (needs root and apt-get):
#     containerd (and ctr), runc, containernetworking-plugins (the CNI
#     loopback plugin in /usr/lib/cni) and busybox-static; and chromium, the
#     headless browser the report's HTML is checked in.
#  2. OCI image tarballs in .cache/images, built by hack/tools/image from
#     /bin/busybox (nothing is pulled): busybox.tar (cairn.local/busybox:1,
#     for workloads) and pause.tar (the sandbox image containerd's default
#     config asks for, whose entrypoint sleeps until killed); and, when the
#     velero tool is built (`make tools`, which `make test` runs first),
#     velero.tar (cairn.local/velero:1: busybox and /velero, the image of
#     the pods Velero's node agent runs its file-system backups in). They
#     are rebuilt only when busybox, velero, the builder or the sandbox
#     image name change.
#
#   hack/node-deps.sh
#   CAIRN_IMAGES=/elsewhere hack/node-deps.sh   # else .cache/images
#
# Without root, missing packages are reported and the script exits 0: the
# node tests then skip, or fail under CAIRN_REQUIRE_REAL=1, saying what is
# missing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
images=${CAIRN_IMAGES:-$root/.cache/images}
tools=${CAIRN_TOOLS:-$root/.cache/bin}
go=${GO:-go}
packages=(containerd runc containernetworking-plugins busybox-static chromium)

die() {
	echo "node-deps: $*" >&2
	exit 1
}

installed() { # package
	[[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

start=$SECONDS
missing=()
if command -v dpkg-query >/dev/null; then
	for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
else
	for c in containerd ctr runc busybox chromium; do command -v "$c" >/dev/null || missing+=("$c"); done
fi
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
		echo "node-deps: missing ${missing[*]}; install them as root (Debian: apt-get install ${packages[*]})." >&2
		echo "node-deps: the tests that run a real node will skip, or fail under CAIRN_REQUIRE_REAL=1." >&2
		exit 0
	fi
	echo "node-deps: installing ${missing[*]} from Debian"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || die "apt-get update failed"
	apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null ||
		die "apt-get install ${packages[*]} failed"
fi
for f in /usr/bin/containerd /usr/bin/ctr /usr/sbin/runc /usr/lib/cni/loopback /bin/busybox /usr/bin/chromium; do
	[[ -x "$f" ]] || die "$f is missing after installing ${packages[*]}"
done

# The sandbox image containerd's own default configuration asks for; the
# tests' containerd runs with that configuration as its base.
pause_ref=$(containerd config default | sed -n 's/^ *sandbox_image *= *"\(.*\)".*/\1/p' | head -n1)
[[ -n "$pause_ref" ]] || die "cannot read sandbox_image from 'containerd config default'"

builder="$root/hack/tools/image"
velero=() want=(busybox.tar pause.tar pause.ref)
if [[ -x "$tools/velero" ]]; then
	velero=(-velero "$tools/velero")
	want+=(velero.tar)
fi
stamp=$({ cat /bin/busybox "$builder/go.mod" "$builder"/*.go ${velero[1]:+"${velero[1]}"}; printf '%s\n' "$pause_ref" "${velero[*]}"; } | sha256sum | cut -d' ' -f1)
cached=true
for f in "${want[@]}" .stamp; do [[ -f "$images/$f" ]] || cached=false; done
if $cached && [[ "$(cat "$images/.stamp")" == "$stamp" ]]; then
	printf '%-24s cached (%s)\n' "images" "$images"
else
	mkdir -p "$images"
	(cd "$builder" && CGO_ENABLED=0 "$go" run -mod=readonly . -busybox /bin/busybox -out "$images" -pause-ref "$pause_ref" "${velero[@]}") ||
		die "building the images failed"
	# A new file renamed into place: .cache may hold hard links shared
	# with other clones, which must not be written through.
	printf '%s\n' "$stamp" >"$images/.stamp.$$" && mv -f "$images/.stamp.$$" "$images/.stamp"
fi
echo "node deps ready ($((SECONDS - start))s)"
