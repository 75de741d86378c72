#!/bin/sh
# Regenerates goldmane.pb.go and goldmane_grpc.pb.go from goldmane.proto.
# Called by `make proto`; the normal build uses the committed files and does
# not need protoc.
#
# Needs: protoc (Debian: apt-get install -y protobuf-compiler) and Go. The
# plugins are installed at pinned versions into a temporary GOBIN, so go.mod
# and the user's GOBIN are never touched.
set -eu

PROTOC_GEN_GO_VERSION=v1.36.12      # = google.golang.org/protobuf in go.mod
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

dir=$(cd "$(dirname "$0")" && pwd)

command -v protoc >/dev/null 2>&1 || {
	echo "gen.sh: protoc not found (apt-get install -y protobuf-compiler)" >&2
	exit 1
}

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT INT TERM

# Running outside the module (cd "$bin") keeps go.mod untouched.
(cd "$bin" && GOBIN="$bin" GOFLAGS= go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION")
(cd "$bin" && GOBIN="$bin" GOFLAGS= go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION")

cd "$dir"
PATH="$bin:$PATH" protoc \
	--proto_path=. \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	goldmane.proto

echo "gen.sh: regenerated $dir/goldmane.pb.go and goldmane_grpc.pb.go" >&2
