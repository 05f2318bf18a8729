#!/usr/bin/env bash
# The load balancer as the SSH bastion of the app droplets, and nothing more: the deploy and ops users may
# open tunnels to port 22 of the app droplets' private addresses (sshd's PermitOpen), to no other host or
# port. Run by a Command with every app host's address, again whenever the list changes:
#   sudo bastion.sh <private IPv4 address>...
# A host that left the list stays reachable until the next run: the Command runs before Pulumi deletes
# what left the program, and a removed host's retire (drain, stop) still goes through this host.
# Idempotent; a rule sshd refuses is left out and the previous one kept.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=layout.sh disable=SC1091  # rendered by the program; checked as installed (unit suite)
. "$(dirname "$0")/layout.sh"

DROPIN=${METEOR_DO_BASTION_SSHD:-/etc/ssh/sshd_config.d/55-meteor-do-bastion.conf}
SSHD_TEST=${METEOR_DO_SSHD_TEST:-sshd -t}
SSH_RELOAD=${METEOR_DO_SSH_RELOAD:-systemctl reload ssh}

die() {
  printf 'bastion.sh: error: %s\n' "$*" >&2
  exit 1
}

(($# >= 1)) || die "usage: bastion.sh <app host private IPv4 address>..."
octet='(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])'
for ip in "$@"; do
  [[ $ip =~ ^$octet(\.$octet){3}$ ]] || die "'$ip' is not an IPv4 address"
done

# The previous run's list (its "# hosts:" line): kept for one more run, as said above.
previous=()
if [[ -f $DROPIN ]]; then
  read -r -a previous < <(sed -n 's/^# hosts: //p' "$DROPIN" | head -n 1) || true
fi
targets=()
for ip in "$@" "${previous[@]}"; do
  [[ $ip =~ ^$octet(\.$octet){3}$ && " ${targets[*]} " != *" $ip:22 "* ]] && targets+=("$ip:22")
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The first value sshd obtains wins, so this file is the only one that speaks of these users' tunnels;
# `Match all` ends the block, so files read after it stay global.
{
  printf '# Written by bastion.sh: the app droplets SSH port, nothing else, for these users.\n'
  printf '# hosts: %s\n' "$*"
  printf 'Match User %s,%s\n' "$LAYOUT_DEPLOY_USER" "$LAYOUT_OPERATOR_USER"
  printf '  AllowTcpForwarding local\n'
  printf '  PermitOpen %s\n' "${targets[*]}"
  printf 'Match all\n'
} >"$work/sshd.conf"

if cmp -s "$work/sshd.conf" "$DROPIN"; then
  printf 'bastion.sh: tunnels to %s unchanged\n' "${targets[*]}"
  exit 0
fi
if [[ -f $DROPIN ]]; then cp -p "$DROPIN" "$work/previous"; fi
install -m 0644 "$work/sshd.conf" "$DROPIN"
if ! $SSHD_TEST; then
  if [[ -f $work/previous ]]; then install -m 0644 "$work/previous" "$DROPIN"; else rm -f "$DROPIN"; fi
  die "sshd rejects the tunnel rule; the previous one is kept"
fi
$SSH_RELOAD
printf 'bastion.sh: tunnels to %s\n' "${targets[*]}"
