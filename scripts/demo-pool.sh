#!/usr/bin/env bash
# The demo itself; scripts/demo.sh runs it inside a private mount namespace.
set -euo pipefail
build=${1:?usage: demo-pool.sh BUILD_DIR}
agent="$build/linux/dsvm-agent"
fake_imds="$build/tests/dsvm-fake-imds"

sandbox=$(mktemp -d /tmp/dsvm-demo.XXXXXX)
imds_pid=
cleanup() {
  [[ -n $imds_pid ]] && kill "$imds_pid" 2>/dev/null && wait "$imds_pid" 2>/dev/null
  umount -R "$sandbox/datamnt/dsvmshare" 2>/dev/null || true
  rm -rf "$sandbox"
}
trap cleanup EXIT

# The "share": on a real pool, Azure Files or NFS; here a local directory, mounted as a bind
# share, with the reference layout (notebooks/<user>).
mkdir -p "$sandbox/srv/dsvmshare/notebooks/alice" "$sandbox/etc"
printf '# /etc/fstab: static file system information.\nUUID=0a1b2c3d / ext4 errors=remount-ro 0 1\n' \
  > "$sandbox/etc/fstab"
echo '{"cells": [], "nbformat": 4, "nbformat_minor": 5}' \
  > "$sandbox/srv/dsvmshare/notebooks/alice/welcome.ipynb"

# The instance's own accounts, as a fresh Debian image has them.
printf 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' \
  > "$sandbox/etc/passwd"
printf 'root:x:0:\nshadow:x:42:\nusers:x:100:\nnogroup:x:65534:\n' > "$sandbox/etc/group"
printf 'root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n' > "$sandbox/etc/shadow"
printf 'root:*::\nshadow:*::\nusers:*::\nnogroup:*::\n' > "$sandbox/etc/gshadow"
chmod 0640 "$sandbox/etc/shadow" "$sandbox/etc/gshadow"
mkdir -p "$sandbox/etc/skel" && echo '# ~/.bashrc' > "$sandbox/etc/skel/.bashrc"

# What IMDS would serve: tags for the share and its users, and a pool config in userData.
user_data='{"dsvmPool": {"share": {"mountPoint": "/datamnt/dsvmshare"}, "interval": 60}}'
cat > "$sandbox/imds.json" <<JSON
{"compute": {"name": "dsvm-pool_0", "vmScaleSetName": "dsvm-pool", "osType": "Linux",
  "vmId": "00000000-0000-4000-8000-000000000000",
  "tagsList": [{"name": "dsvm-share", "value": "/srv/dsvmshare"},
               {"name": "dsvm-share-type", "value": "bind"},
               {"name": "dsvm-users", "value": "alice, bob"},
               {"name": "team", "value": "data-science"}],
  "userData": "$(printf '%s' "$user_data" | base64 -w0)"}}
JSON
"$fake_imds" --document "$sandbox/imds.json" --port-file "$sandbox/imds.port" >/dev/null &
imds_pid=$!
for _ in $(seq 100); do [[ -s $sandbox/imds.port ]] && break; sleep 0.05; done
imds="http://127.0.0.1:$(cat "$sandbox/imds.port")"

run() {
  echo
  echo "\$ dsvm-agent $*"
  "$agent" --root "$sandbox" --imds "$imds" "$@" || echo "(exit status $?)"
}

echo "Demo pool: sandbox root $sandbox, metadata service $imds"
# Every instance of a pool holds the pool's registry key, which signs the user registry on the
# share (on Azure: the extension's protected settings); here a fresh one.
echo
echo "\$ openssl rand -base64 32 | dsvm-agent registry set-key --key-stdin"
openssl rand -base64 32 | "$agent" --root "$sandbox" registry set-key --key-stdin
run reconcile --dry-run
run reconcile
run reconcile
run adduser carol --groups users
run users
run status
echo
echo "\$ grep dsvm-agent $sandbox/etc/passwd   # the pool's accounts, same UIDs on every instance"
grep dsvm-agent "$sandbox/etc/passwd"
echo
echo "\$ ls -l $sandbox/home/alice/notebooks   # the link into the share"
ls -l "$sandbox/home/alice/notebooks"
echo
echo "\$ ls -la $sandbox/datamnt/dsvmshare/notebooks   # each user's folder is theirs alone"
ls -la "$sandbox/datamnt/dsvmshare/notebooks"
echo
echo "\$ findmnt $sandbox/datamnt/dsvmshare"
findmnt "$sandbox/datamnt/dsvmshare"
echo
echo "\$ cat $sandbox/etc/fstab   # boot persistence: the agent's marked entry"
cat "$sandbox/etc/fstab"
