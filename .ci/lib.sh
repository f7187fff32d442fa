#!/usr/bin/env bash
# What CI needs, as functions: Node, Debian packages, a Docker Engine, the images
# and the real agent CLIs. Sourced by .ci/run; `bash .ci/images` runs the image part
# alone for local work. Everything here installs what it needs: nothing may rely on
# a machine that ran it before.

node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 18) ? 0 : 1)'
}

# Node >= 22.18 on PATH: the machine's, or node@24 from the npm registry.
ensure_node() {
  if ! node_ok; then
    local prefix="$HOME/.cache/devflow-node"
    echo "== node $(node --version 2>/dev/null || echo none) is too old; installing node@24 under $prefix"
    if [ ! -x "$prefix/node_modules/.bin/node" ]; then
      npm install --prefix "$prefix" --no-save --no-audit --no-fund node@24 || return 1
    fi
    export PATH="$prefix/node_modules/.bin:$PATH"
    node_ok || { echo "could not get Node >= 22.18"; return 1; }
  fi
  echo "== node $(node --version), npm $(npm --version), git $(git --version)"
}

# Debian packages the tests need, installed when missing (the index is refreshed once).
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    apt-get update -qq || return 1
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# A Docker Engine and the runner image, for the docker runner's tests. Nothing can be
# pulled from a registry here: the base image is a Debian root filesystem built with
# mmdebstrap plus this machine's Node binary. In CI (CI=true) that root filesystem is
# built afresh, in an empty directory, on every run: a cache left by an earlier run
# must never be what makes CI pass. Elsewhere a verified cache is reused.
CI_CACHE=${DEVFLOW_CI_CACHE:-/var/cache/devflow-ci}
ROOTFS_SUITE=bookworm
ROOTFS_PACKAGES=git,ca-certificates,libstdc++6

# Whether $1 is a readable tar archive of a root filesystem (not a directory, not half a file).
is_rootfs_tar() {
  [ -f "$1" ] && [ ! -L "$1" ] && tar -tf "$1" ./usr/bin/git >/dev/null 2>&1
}

# Builds the root filesystem into $1 (a .tar path) from an empty temporary directory
# next to it; the archive is checked before it is moved into place.
build_rootfs() {
  local out=$1 tmp
  tmp=$(mktemp -d "$(dirname "$out")/rootfs-build.XXXXXX") || return 1
  # --format=tar: mmdebstrap guesses the format from the file name otherwise, and a
  # name it does not know makes it write a directory.
  if mmdebstrap --quiet --format=tar --variant=minbase --include="$ROOTFS_PACKAGES" \
    "$ROOTFS_SUITE" "$tmp/rootfs.tar" && is_rootfs_tar "$tmp/rootfs.tar"; then
    mv -f "$tmp/rootfs.tar" "$out"
    rm -rf "$tmp"
    return 0
  fi
  echo "mmdebstrap did not produce a root filesystem archive at $tmp/rootfs.tar"
  rm -rf "$tmp"
  return 1
}

# The real agent CLIs the sandbox tests run, at the versions they were tried with,
# installed from npm into a fresh directory on every run (npm's own cache may make
# it quick; nothing else is reused). Exports DEVFLOW_TEST_AGENT_CLIS (its .bin).
CLAUDE_CODE_VERSION=2.1.332
CODEX_VERSION=0.171.0
install_agent_clis() {
  local dir="$CI_CACHE/agent-clis"
  rm -rf "$dir" && mkdir -p "$dir" || return 1
  echo "== installing @anthropic-ai/claude-code@$CLAUDE_CODE_VERSION and @openai/codex@$CODEX_VERSION under $dir"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error \
    "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" "@openai/codex@$CODEX_VERSION" >/dev/null || return 1
  "$dir/node_modules/.bin/claude" --version >/dev/null || return 1
  "$dir/node_modules/.bin/codex" --version >/dev/null || return 1
  export DEVFLOW_TEST_AGENT_CLIS="$dir/node_modules/.bin"
}

setup_docker() {
  export DOCKER_HOST="unix:///var/run/devflow-docker.sock"
  mkdir -p "$CI_CACHE"
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v mmdebstrap >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1; then
    echo "== installing docker.io, docker-compose and mmdebstrap"
    apt_install docker.io docker-compose mmdebstrap || return 1
  fi
  if ! docker info >/dev/null 2>&1; then
    echo "== starting dockerd on $DOCKER_HOST"
    mkdir -p /var/lib/devflow-docker
    nohup dockerd --host "$DOCKER_HOST" --data-root /var/lib/devflow-docker \
      --exec-root /var/run/devflow-docker-exec --pidfile /var/run/devflow-docker.pid \
      --iptables=false --ip6tables=false --bridge=none >"$CI_CACHE/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { tail -20 "$CI_CACHE/dockerd.log"; return 1; }
  fi
  # The cache is named after what it is built from, so a change of recipe never reuses it.
  local recipe rootfs debian
  recipe=$(printf '%s %s minbase tar' "$ROOTFS_SUITE" "$ROOTFS_PACKAGES" | sha256sum | cut -c1-12)
  rootfs="$CI_CACHE/rootfs-$recipe.tar"
  debian="devflow-ci-debian:$recipe"
  if [ "${CI:-}" = "true" ] || ! is_rootfs_tar "$rootfs"; then
    echo "== building the Debian root filesystem in an empty directory ($rootfs)"
    rm -rf "$rootfs"
    build_rootfs "$rootfs" || return 1
    docker image rm -f "$debian" >/dev/null 2>&1
  fi
  docker image inspect "$debian" >/dev/null 2>&1 || docker import "$rootfs" "$debian" >/dev/null || return 1
  # The base image: the Debian root filesystem, this machine's Node and npm, and its
  # CA bundle (npm inside the app image's build reaches the registry as the host does).
  local base ctx
  base="devflow-ci-base:$recipe-node$(node --version)-npm$(npm --version)"
  ctx=$(mktemp -d)
  cp -L "$(command -v node)" "$ctx/node"
  cp -r "$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")" "$ctx/npm"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $debian
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && node --version && npm --version && git --version
DOCKERFILE
  echo "== building the base image $base"
  docker build --network none -q -t "$base" "$ctx" >/dev/null || return 1
  rm -rf "$ctx"
  echo "== building the runner image from $base"
  docker build --network none -q --build-arg "BASE_IMAGE=$base" --build-arg AGENT_CLIS= \
    --target runner -t devflow-runner:test . >/dev/null || return 1
  export DEVFLOW_TEST_DOCKER_IMAGE=devflow-runner:test
  # The app image runs npm ci, so its build uses the host's network (the engine has no bridge).
  echo "== building the app image from $base"
  docker build --network host -q --build-arg "BASE_IMAGE=$base" --build-arg AGENT_CLIS= \
    --target app -t devflow:test . >/dev/null || return 1
  export DEVFLOW_TEST_APP_IMAGE=devflow:test
  # The runner image as users build it, with the real agent CLIs (npm needs the network).
  echo "== building the runner image with claude-code and codex"
  docker build --network host -q --build-arg "BASE_IMAGE=$base" --build-arg AGENT_CLIS=claude-code,codex \
    --build-arg "CLAUDE_CODE_VERSION=$CLAUDE_CODE_VERSION" --build-arg "CODEX_VERSION=$CODEX_VERSION" \
    --target runner -t devflow-runner:agents . >/dev/null || return 1
  export DEVFLOW_TEST_AGENTS_IMAGE=devflow-runner:agents
  # From here a missing engine fails the docker tests instead of skipping them.
  export DEVFLOW_REQUIRE_DOCKER=1
}
