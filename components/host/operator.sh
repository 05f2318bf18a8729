#!/usr/bin/env bash
# Gives the people in operatorSshKeys their own login for `npm run ops`, with the rights it needs:
#   sudo operator.sh app|lb < public-keys      (one key per line; none: nobody can log in as ops)
# Both roles: the `ops` user (key-only, bash; not "operator", a system group on Debian), in the
# systemd-journal group (reads the app's journal), its authorized_keys owned by root (only this script
# writes them). App hosts: sudo for the rollback form of cutover.sh (`... --env live`) and nothing else.
# LB: sudo for `lb-role.sh step-down` and `step-up` (ops failover, lbCount 2) and nothing else; tunnels to the
# app hosts' port 22 come from bastion.sh, for this user as for deploy. Idempotent. It
# runs from a Command, not from user-data, so adding or removing a key never replaces a droplet.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=layout.sh disable=SC1091  # rendered by the program; checked as installed (unit suite)
. "$(dirname "$0")/layout.sh"

OPERATOR=${METEOR_DO_OPERATOR_USER:-$LAYOUT_OPERATOR_USER}
TOOLS_DIR=${METEOR_DO_TOOLS_DIR:-$LAYOUT_TOOLS_DIR}
SUDOERS_FILE=${METEOR_DO_OPERATOR_SUDOERS:-/etc/sudoers.d/meteor-do-operator}
SSHD_DROPIN=${METEOR_DO_OPERATOR_SSHD:-/etc/ssh/sshd_config.d/60-meteor-do-operator.conf}

die() {
  printf 'operator.sh: error: %s\n' "$*" >&2
  exit 1
}

[[ $# -eq 1 && ($1 == app || $1 == lb) ]] || die "usage: operator.sh app|lb < public-keys"
role=$1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The program validated the keys (lib/validate.ts publicKey); this keeps the file to key lines of the same
# pattern only (no options such as command=).
n=0
while IFS= read -r line || [[ -n $line ]]; do
  [[ -n $line ]] || continue
  n=$((n + 1))
  [[ $line =~ $PUBLIC_KEY_RE ]] ||
    die "line $n of stdin is not an OpenSSH public key"
  printf '%s\n' "$line" >>"$work/authorized_keys"
done
touch "$work/authorized_keys"

if ! id -u "$OPERATOR" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash --comment "meteor-do operator (npm run ops)" "$OPERATOR"
fi
# Exactly this group; '*' (no password) rather than '!' (locked), which sshd may refuse for keys too.
usermod --groups systemd-journal --password '*' "$OPERATOR"
home=$(getent passwd "$OPERATOR" | cut -d: -f6)
install -d -m 0755 -o root -g root "$home/.ssh"
install -m 0644 -o root -g root "$work/authorized_keys" "$home/.ssh/authorized_keys"

if [[ $role == app ]]; then
  # sudo matches the whole command line: the rollback form, whatever the release and peer, ends in
  # `--env live` (cutover.sh reads options in order, so a later one wins); nothing else runs as root.
  # sudo's env_reset (Debian's default) keeps the caller's METEOR_DO_* overrides away from cutover.sh.
  printf '%s ALL=(root) NOPASSWD: %s/cutover.sh * --env live\n' "$OPERATOR" "$TOOLS_DIR" >"$work/sudoers"
  visudo -cqf "$work/sudoers" || die "the sudoers rule does not parse"
  install -m 0440 -o root -g root "$work/sudoers" "$SUDOERS_FILE"
else
  # The LB: `npm run ops -- failover` steps the active LB down and up again (lbCount 2), nothing else.
  printf '%s ALL=(root) NOPASSWD: %s/lb-role.sh step-down, %s/lb-role.sh step-up\n' "$OPERATOR" "$TOOLS_DIR" "$TOOLS_DIR" >"$work/sudoers"
  visudo -cqf "$work/sudoers" || die "the sudoers rule does not parse"
  install -m 0440 -o root -g root "$work/sudoers" "$SUDOERS_FILE"
fi
if [[ $role == lb && -f $SSHD_DROPIN ]]; then
  # The operator's tunnels are bastion.sh's now (to the app droplets' port 22 only): drop the old *:22 rule.
  rm -f "$SSHD_DROPIN"
  systemctl reload ssh
fi
printf 'operator.sh: %s can log in with %d key(s)\n' "$OPERATOR" "$(grep -c . "$work/authorized_keys" || true)"
