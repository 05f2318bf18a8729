#!/usr/bin/env bash
# lbCount 2: what keepalived runs on each LB (failover.sh configure writes its config):
#   lb-role.sh check                     the tracked script: fails when this LB must not hold the address
#                                        (nginx does not answer its admin API locally, or the step-down file
#                                        that `npm run ops -- failover` touches exists)
#   lb-role.sh active|standby|fault      notify on a VRRP transition: records the role in the role file
#                                        (the status page and ops read it); active also assigns the reserved
#                                        IP to this droplet (lb-takeover.sh), logged to the journal
#   lb-role.sh show                      prints the recorded role (none before keepalived's first transition)
#   lb-role.sh step-down|step-up         creates or removes the step-down file (npm run ops -- failover; the
#                                        ops user may run these two with sudo): the tracked script then fails
#                                        and this LB hands the address to the other one, or may hold it again
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=layout.sh disable=SC1091  # rendered by the program; checked as installed (unit suite)
. "$(dirname "$0")/layout.sh"

role_file=${LB_ROLE_FILE:-$LAYOUT_LB_ROLE_FILE}
step_down=${LB_STEP_DOWN_FILE:-$LAYOUT_LB_STEP_DOWN_FILE}
admin=${LB_ROLE_ADMIN:-http://127.0.0.1:$LAYOUT_LB_ADMIN_PORT}
takeover=${LB_TAKEOVER_CMD:-$(dirname "$0")/lb-takeover.sh}
# Tries of the takeover while this LB stays active (each bounded by lb-takeover.sh's own timeout).
tries=${LB_TAKEOVER_TRIES:-10}

record() {
  install -d -m 0755 "$(dirname "$role_file")"
  printf '%s\n' "$1" >"$role_file.tmp"
  chmod 0644 "$role_file.tmp"
  mv -f "$role_file.tmp" "$role_file"
}
# Through the journal when there is one (keepalived discards a notify script's output).
journal() { if command -v logger >/dev/null && [[ -z ${LB_ROLE_STDERR:-} ]]; then logger -t meteor-do-failover; else cat >&2; fi; }

case ${1:-} in
  check)
    [[ ! -e $step_down ]] || exit 1
    curl -fsS -o /dev/null --max-time 1 "$admin/lb/config" 2>/dev/null
    ;;
  active)
    # "takeover" until the reserved IP is on this droplet, then "active" (ops failover waits for it).
    record takeover
    for ((i = 1; i <= tries; i++)); do
      if "$takeover" 2>&1 | journal; then
        [[ $(cat "$role_file" 2>/dev/null) != takeover ]] || record active
        exit 0
      fi
      # Stepped down meanwhile (the other LB took over): its takeover is what counts now.
      [[ $(cat "$role_file" 2>/dev/null) == takeover ]] || exit 0
    done
    echo "lb-role: the takeover failed $tries times; this LB is VRRP master without the reserved IP" | journal
    exit 1
    ;;
  standby | fault)
    record "$1"
    echo "lb-role: this LB is $1" | journal
    ;;
  show)
    cat "$role_file" 2>/dev/null || echo none
    ;;
  step-down)
    install -d -m 0755 "$(dirname "$step_down")"
    touch "$step_down"
    echo "lb-role: stepping down (the tracked script fails until step-up)"
    ;;
  step-up)
    rm -f "$step_down"
    echo "lb-role: may hold the address again (as standby: no preemption)"
    ;;
  *)
    echo "usage: lb-role.sh check|active|standby|fault|show|step-down|step-up" >&2
    exit 2
    ;;
esac
