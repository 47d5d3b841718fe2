#!/usr/bin/env bash
# Installs helm from the Go module proxy into $(go env GOPATH)/bin when no helm of that version is there;
# prints its path. Fast when it is: one version check, no download. Building it takes minutes on 2 cores.
# v4 is the machine's approved line (v3.21.4 is the fallback: DANCU_HELM_MODULE=helm.sh/helm/v3
# DANCU_HELM_VERSION=v3.21.4).
set -euo pipefail

module=${DANCU_HELM_MODULE:-helm.sh/helm/v4}
version=${DANCU_HELM_VERSION:-v4.3.2}

command -v go >/dev/null || { echo "install-helm: Go is needed to build helm" >&2; exit 1; }
helm="$(go env GOPATH)/bin/helm"
# The module's version as the Go toolchain recorded it in the binary (helm's own `version` says only
# v4.3 when built by go install, without the release's linker flags).
if [ -x "$helm" ] && go version -m "$helm" 2>/dev/null | grep -qE "^[[:space:]]+mod[[:space:]]+$module[[:space:]]+$version([[:space:]]|\$)"; then
  echo "$helm"
  exit 0
fi
echo "install-helm: building helm $version from $module (takes minutes)" >&2
GOFLAGS=-mod=mod go install "$module/cmd/helm@$version" >&2
echo "$helm"
