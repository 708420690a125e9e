#!/usr/bin/env bash
# Builds the real components the tests run (etcd, kube-apiserver, …,
# versitygw, staticcheck, controller-gen, helm, velero and its AWS plugin, kopia) from the Go module proxy into .cache/bin, and
# reuses a binary that is already there and was built from the same pinned
# versions. Each component is pinned by its own Go module under hack/tools/
# (go.mod + go.sum); this script never changes those files.
#
#   hack/build-tools.sh                 # everything missing
#   CAIRN_TOOLS_ONLY="etcd kube-apiserver" hack/build-tools.sh
#   CAIRN_TOOLS_ONLY=restic hack/build-tools.sh   # bench-only tools are built only by name
#   CAIRN_TOOLS_DIR=/elsewhere hack/build-tools.sh   # else $CAIRN_TOOLS, else .cache/bin
#
# A binary is built to a temporary name in the target folder and renamed into
# place only when the build succeeded, so an interrupted build never leaves a
# half-written binary behind. .stamp/<name> records a hash of the go.mod,
# go.sum and build flags a binary was built from; when that changes (a
# version bump), the binary is rebuilt.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/hack/tools"
out=${CAIRN_TOOLS_DIR:-${CAIRN_TOOLS:-$root/.cache/bin}}
go=${GO:-go}

# name | module dir under hack/tools | package
catalog=(
	"etcd|etcd|go.etcd.io/etcd/server/v3"
	"kube-apiserver|k8s|k8s.io/kubernetes/cmd/kube-apiserver"
	"kube-controller-manager|k8s|k8s.io/kubernetes/cmd/kube-controller-manager"
	"kube-scheduler|k8s|k8s.io/kubernetes/cmd/kube-scheduler"
	"kubelet|k8s|k8s.io/kubernetes/cmd/kubelet"
	"versitygw|s3|github.com/versity/versitygw/cmd/versitygw"
	"staticcheck|lint|honnef.co/go/tools/cmd/staticcheck"
	"controller-gen|gen|sigs.k8s.io/controller-tools/cmd/controller-gen"
	"helm|helm|helm.sh/helm/v3/cmd/helm"
	"velero|velero|github.com/vmware-tanzu/velero/cmd/velero"
	"velero-plugin-for-aws|velero|github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws"
	"restic|restic|github.com/restic/restic/cmd/restic"
	"kopia|kopia|github.com/kopia/kopia"
)
# Built only when asked for by name (CAIRN_TOOLS_ONLY): restic 0.18.1 is
# the reference of the storage-engine benchmark (hack/bench/run.sh builds
# it). kopia (Velero's fork, ~2 min cold) is a default: it makes the
# repositories the kopia reader's tests read, and CI requires them.
bench_only=" restic "

die() {
	echo "build-tools: $*" >&2
	exit 1
}

command -v "$go" >/dev/null || die "'$go' not found in PATH; a Go toolchain is required"

known=" " defaults=" "
for entry in "${catalog[@]}"; do
	known+="${entry%%|*} "
	[[ "$bench_only" == *" ${entry%%|*} "* ]] || defaults+="${entry%%|*} "
done
wanted=${CAIRN_TOOLS_ONLY:-$defaults}
for name in $wanted; do
	[[ "$known" == *" $name "* ]] || die "unknown tool '$name' in CAIRN_TOOLS_ONLY (known:$known)"
done

mkdir -p "$out/.stamp"

# Version stamped into the Kubernetes binaries, as the release build does
# (otherwise they report v0.0.0-master).
required_version() { # module-dir module-path
	awk -v m="$2" '$1 == "require" && $2 == m { print $3 } $1 == m { print $2 }' "$tools/$1/go.mod" | head -n1
}

ldflags_for() { # name module-dir
	local flags="-s -w" v
	case "$2" in
	k8s)
		v=$(required_version k8s k8s.io/kubernetes)
		[[ "$v" =~ ^v([0-9]+)\.([0-9]+)\. ]] || die "cannot read the k8s.io/kubernetes version from $tools/k8s/go.mod"
		local p
		for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
			flags+=" -X $p.gitVersion=$v -X $p.gitMajor=${BASH_REMATCH[1]} -X $p.gitMinor=${BASH_REMATCH[2]} -X $p.gitTreeState=clean"
		done
		;;
	s3)
		v=$(required_version s3 github.com/versity/versitygw)
		flags+=" -X main.Version=$v"
		;;
	velero)
		if [[ "$1" == velero ]]; then
			v=$(required_version velero github.com/vmware-tanzu/velero)
			flags+=" -X github.com/vmware-tanzu/velero/pkg/buildinfo.Version=$v"
		fi
		;;
	esac
	printf '%s' "$flags"
}

stamp_of() { # module-dir package ldflags
	{ cat "$tools/$1/go.mod" "$tools/$1/go.sum"; printf '%s\n' "$2" "$3" "CGO_ENABLED=0"; } | sha256sum | cut -d' ' -f1
}

tmp=""
cleanup() { [[ -z "$tmp" ]] || rm -f "$tmp"; }
trap cleanup EXIT
trap 'echo "build-tools: interrupted" >&2; exit 130' INT TERM

total_start=$SECONDS
failed=()
for entry in "${catalog[@]}"; do
	IFS='|' read -r name dir pkg <<<"$entry"
	[[ " $wanted " == *" $name "* ]] || continue
	[[ -f "$tools/$dir/go.mod" && -f "$tools/$dir/go.sum" ]] || die "missing $tools/$dir/go.mod or go.sum"

	target="$out/$name"
	ldflags=$(ldflags_for "$name" "$dir")
	stamp=$(stamp_of "$dir" "$pkg" "$ldflags")
	if [[ -x "$target" && -f "$out/.stamp/$name" && "$(cat "$out/.stamp/$name")" == "$stamp" ]]; then
		printf '%-24s cached\n' "$name"
		continue
	fi

	start=$SECONDS
	tmp="$out/.$name.tmp.$$"
	log="$out/.stamp/$name.log"
	# CGO off: static binaries, no C toolchain needed (as the release builds).
	if (cd "$tools/$dir" && CGO_ENABLED=0 "$go" build -mod=readonly -trimpath -buildvcs=false \
		-ldflags="$ldflags" -o "$tmp" "$pkg") >"$log" 2>&1; then
		mv -f "$tmp" "$target"
		rm -f "$log"
		tmp=""
		printf '%s\n' "$stamp" >"$out/.stamp/$name"
		printf '%-24s built in %ds\n' "$name" $((SECONDS - start))
	else
		rm -f "$tmp"
		tmp=""
		printf '%-24s FAILED after %ds; go build output (%s):\n' "$name" $((SECONDS - start)) "$log" >&2
		tail -n 30 "$log" >&2
		failed+=("$name")
	fi
done

if ((${#failed[@]})); then
	die "failed to build: ${failed[*]} (module dirs under hack/tools/, logs in $out/.stamp/)"
fi
echo "tools ready in $out ($((SECONDS - total_start))s)"
