#!/usr/bin/env bash
# Reboots an app host when a security update needs it (unattended-upgrades leaves /run/reboot-required and
# never reboots by itself), in this host's own window and only when it is safe:
#   reboot-window.sh install <HH:MM UTC> <peer ip:port> <lb ip>   writes and enables meteor-do-reboot.timer
#                                                                 (the window) and meteor-do-resume.service
#   reboot-window.sh run <peer> <lb>      the timer's job: nothing unless a reboot is required; never during a
#                                         deploy (the deploy lock, without waiting: held means next window);
#                                         never while another app host is down or drained (the LB's admin API);
#                                         then drain, stop the app (its grace period), reboot
#   reboot-window.sh resume <peer> <lb>   at boot, after such a reboot: undrain once the LB sees the app up
# The program gives app host i the window 04:00 + 30 min x (i - 1) UTC, so no two app hosts reboot at once.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=deploy-lib.sh
. "$(dirname "$0")/deploy-lib.sh"

UNIT_DIR=${REBOOT_UNIT_DIR:-/etc/systemd/system}
REQUIRED=${REBOOT_REQUIRED_FILE:-/run/reboot-required}
MARK=${REBOOT_MARK:-/var/lib/meteor-do/drained-for-reboot}
SYSTEMCTL=${REBOOT_SYSTEMCTL:-systemctl}
usage() { die "usage: reboot-window.sh install HH:MM PEER LB | run PEER LB | resume PEER LB"; }

[[ $# -ge 1 ]] || usage
action=$1
shift
if [[ $action == install ]]; then
  [[ $# -eq 3 ]] || usage
  window=$1
  shift
  [[ $window =~ ^([01][0-9]|2[0-3]):[0-5][0-9]$ ]] || die "the window must be HH:MM (UTC), got '$window'"
fi
[[ $# -eq 2 ]] || usage
peer=$1 lb=$2
check_peer "the peer"
add_lbs "$lb" "the LB"
self=$(realpath "$0")
# Two LBs: the first one's view decides; drain and undrain go to each.
peers_url="http://${lbs[0]}:$LB_PORT/lb/peers"
lb_post() { curl -fsS -o /dev/null --max-time 5 -X POST "$(lb_url "$1")/$2"; }

# install: writes each unit only when it changed; prints what it did.
write_unit() {
  if [[ -f $UNIT_DIR/$1 && $(<"$UNIT_DIR/$1") == "$2" ]]; then return 1; fi
  printf '%s\n' "$2" >"$UNIT_DIR/$1.new"
  mv -f "$UNIT_DIR/$1.new" "$UNIT_DIR/$1"
}

case $action in
  install)
    changed=0
    write_unit meteor-do-reboot.service "[Unit]
Description=meteor-do: reboot after a security update that needs it, when safe
[Service]
Type=oneshot
ExecStart=$self run $peer $lb" && changed=1
    write_unit meteor-do-reboot.timer "[Unit]
Description=meteor-do: this app host's reboot window
[Timer]
OnCalendar=*-*-* $window:00 UTC
[Install]
WantedBy=timers.target" && changed=1
    write_unit meteor-do-resume.service "[Unit]
Description=meteor-do: undrain this app host after a reboot-window reboot
After=network-online.target $LAYOUT_APP_UNIT.service
Wants=network-online.target
ConditionPathExists=$MARK
[Service]
Type=oneshot
ExecStart=$self resume $peer $lb
[Install]
WantedBy=multi-user.target" && changed=1
    if ((changed)); then
      "$SYSTEMCTL" daemon-reload
      "$SYSTEMCTL" enable --now meteor-do-reboot.timer >/dev/null 2>&1
      "$SYSTEMCTL" enable meteor-do-resume.service >/dev/null 2>&1
      log "reboot window $window UTC installed"
    else
      log "reboot window $window UTC already installed"
    fi
    ;;
  run)
    [[ -f $REQUIRED ]] || { log "no reboot required"; exit 0; }
    exec 9>"$LOCK_FILE"
    flock -n 9 || { log "a deploy holds $LOCK_FILE: reboot in the next window"; exit 0; }
    peers=$(curl -fsS --max-time 5 "$peers_url") || { log "the LB's admin API does not answer: next window"; exit 0; }
    # Every other peer up and serving, or this host waits: one app host out at a time.
    busy=$(python3 -c '
import json, sys
me = sys.argv[1]
peers = json.load(sys.stdin).get("peers", [])
print(" ".join(p["name"] for p in peers if p.get("name") != me and (p.get("status") != "up" or p.get("draining"))))
' "$peer" <<<"$peers") || { log "cannot read the LB's peers: next window"; exit 0; }
    [[ -z $busy ]] || { log "other app hosts are down or drained ($busy): next window"; exit 0; }
    every_lb lb_post drain || {
      every_lb lb_post undrain || true
      log "the LB refused the drain: next window"
      exit 0
    }
    mkdir -p "$(dirname "$MARK")"
    touch "$MARK"
    log "drained for a reboot; stopping the app"
    "$SYSTEMCTL" stop "$LAYOUT_APP_UNIT" || true
    "$SYSTEMCTL" reboot
    # Hold the deploy lock until the shutdown ends this process.
    sleep "${REBOOT_HOLD_SECONDS:-600}"
    ;;
  resume)
    for _ in $(seq 1 "${REBOOT_RESUME_TRIES:-300}"); do
      if lb_up "${lbs[0]}"; then break; fi
      sleep 1
    done
    # Undrained even if the app is not up yet: the LB's checker keeps a down host out anyway.
    every_lb lb_post undrain || die "could not undrain $peer on the LB"
    rm -f "$MARK"
    log "undrained after the reboot"
    ;;
  *) usage ;;
esac
