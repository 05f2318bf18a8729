#!/usr/bin/env bash
# lbCount 2: the failover between the two LBs (components/failover.ts runs each step as a Command):
#   sudo failover.sh key        installs keepalived, wireguard-tools and jq when missing (Debian's), makes this
#                               LB's WireGuard key pair once (the private key never leaves the host) and
#                               prints the public key
#   sudo failover.sh token      reads the DigitalOcean API token on stdin into a root-only file
#   sudo failover.sh configure --index 0|1 --self-private IP --peer-private IP --peer-key KEY \
#        --reserved-ip IP --droplet-id N --api URL
#                               wg0, a WireGuard tunnel to the other LB over the VPC, and keepalived: unicast
#                               VRRPv3 inside it (Cloud Firewalls pass only tcp/udp/icmp, not VRRP), both
#                               BACKUP with nopreempt, index 0 with the higher priority; lb-role.sh is its
#                               tracked script and notify (lb-takeover.sh assigns the reserved IP on master)
#        --generation ID        (names this configuration; written to failover.env)
#   sudo failover.sh remove --generation ID
#                               stops and removes all of it (lbCount back to 1) when ID is the configuration
#                               in place; another ID (the delete of a Command just replaced by a newer one)
#                               leaves it alone. The reserved IP stays where it is.
# Idempotent: an unchanged file is left alone, so a run again neither restarts the tunnel nor keepalived.
# Overrides for tests: FAILOVER_ROOT (a prefix for every path written), FAILOVER_SERVICES=none (no systemctl).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=layout.sh disable=SC1091  # rendered by the program; checked as installed (unit suite)
. "$(dirname "$0")/layout.sh"

root=${FAILOVER_ROOT:-}
services=${FAILOVER_SERVICES:-systemd}
tools=${FAILOVER_TOOLS_DIR:-$LAYOUT_TOOLS_DIR}
dir=$root$LAYOUT_FAILOVER_DIR
wg_dir=$root/etc/wireguard
key_file=$wg_dir/meteor-do.key
ka_conf=$root/etc/keepalived/keepalived.conf
ka_dropin=$root/etc/systemd/system/keepalived.service.d/50-meteor-do.conf
read -ra tunnel <<<"$LAYOUT_TUNNEL_ADDRESSES"
octet='(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])'
ipv4="^$octet(\\.$octet){3}$"

die() {
  printf 'failover.sh: error: %s\n' "$*" >&2
  exit 1
}
systemd() { if [[ $services == systemd ]]; then systemctl "$@"; fi; }

# put FILE MODE: stdin becomes FILE when it differs; returns 1 when nothing changed.
put() {
  local tmp
  install -d -m 0755 "$(dirname "$1")"
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  chmod "$2" "$tmp"
  if cmp -s "$tmp" "$1"; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$1"
}

case ${1:-} in
  key)
    missing=()
    for p in keepalived wireguard-tools jq; do
      dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if ((${#missing[@]} > 0)); then
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
        { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }
    fi
    install -d -m 0700 "$wg_dir"
    if [[ ! -s $key_file ]]; then (umask 077 && wg genkey >"$key_file.tmp" && mv -f "$key_file.tmp" "$key_file"); fi
    wg pubkey <"$key_file"
    ;;
  token)
    token=$(tr -d '[:space:]')
    [[ $token =~ ^[A-Za-z0-9_.-]{16,}$ ]] || die "the token on stdin must be a DigitalOcean API token (letters, digits, _.-; its value is not shown)"
    umask 077
    printf '%s\n' "$token" | put "$dir/token" 0600 || true
    echo "failover.sh: API token installed in $dir/token (root only)"
    ;;
  configure)
    shift
    index="" self="" peer="" peer_key="" reserved_ip="" droplet_id="" api="" generation=""
    while [[ $# -gt 0 ]]; do
      [[ $# -ge 2 ]] || die "usage: failover.sh configure --index 0|1 --self-private IP --peer-private IP --peer-key KEY --reserved-ip IP --droplet-id N --api URL"
      case $1 in
        --index) index=$2 ;;
        --self-private) self=$2 ;;
        --peer-private) peer=$2 ;;
        --peer-key) peer_key=$2 ;;
        --reserved-ip) reserved_ip=$2 ;;
        --droplet-id) droplet_id=$2 ;;
        --api) api=$2 ;;
        --generation) generation=$2 ;;
        *) die "unknown option $1" ;;
      esac
      shift 2
    done
    [[ $index == 0 || $index == 1 ]] || die "--index must be 0 or 1, got '$index'"
    for v in "$self" "$peer" "$reserved_ip"; do [[ $v =~ $ipv4 ]] || die "'$v' is not an IPv4 address"; done
    [[ $peer_key =~ ^[A-Za-z0-9+/]{43}=$ ]] || die "--peer-key must be a WireGuard public key, got '$peer_key'"
    [[ $droplet_id =~ ^[0-9]+$ ]] || die "--droplet-id must be a number, got '$droplet_id'"
    [[ $api =~ ^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$ ]] || die "--api must be an http(s) URL without a path, got '$api'"
    [[ $generation =~ ^[0-9a-f]{64}$ ]] || die "--generation must be a sha256, got '$generation'"
    [[ -s $key_file ]] || die "no WireGuard key in $key_file (run failover.sh key first)"
    own=${tunnel[index]} other=${tunnel[1 - index]}
    priority=$((index == 0 ? 150 : 100))

    printf 'FAILOVER_API=%s\nFAILOVER_RESERVED_IP=%s\nFAILOVER_DROPLET_ID=%s\nFAILOVER_GENERATION=%s\n' \
      "$api" "$reserved_ip" "$droplet_id" "$generation" |
      put "$dir/failover.env" 0600 || true

    wg_changed=0
    put "$wg_dir/wg0.conf" 0600 <<EOF && wg_changed=1
# Written by failover.sh: the tunnel to the other LB, which carries keepalived's VRRP (and authenticates it).
[Interface]
Address = $own/30
ListenPort = $LAYOUT_WG_PORT
PrivateKey = $(cat "$key_file")

[Peer]
PublicKey = $peer_key
AllowedIPs = $other/32
Endpoint = $peer:$LAYOUT_WG_PORT
PersistentKeepalive = 5
EOF

    ka_changed=0
    put "$ka_conf.new" 0644 <<EOF
# Written by failover.sh: unicast VRRPv3 with the other LB inside wg0. Both start BACKUP and never preempt:
# a recovered LB stays standby, so the address (and its clients) move only when the holder fails.
global_defs {
  router_id meteor_do_lb_$index
  vrrp_version 3
  script_user root
  enable_script_security
}

vrrp_script meteor_do_lb {
  script "$tools/lb-role.sh check"
  interval 1
  timeout 2
  fall 2
  rise 2
}

vrrp_instance meteor_do {
  state BACKUP
  nopreempt
  interface wg0
  virtual_router_id 51
  priority $priority
  advert_int 0.5
  unicast_src_ip $own
  unicast_peer {
    $other
  }
  # keepalived wants an address to hold: a tunnel-only one, so the master is visible on wg0 too.
  virtual_ipaddress {
    $LAYOUT_TUNNEL_VIP/32 dev wg0
  }
  track_script {
    meteor_do_lb
  }
  notify_master "$tools/lb-role.sh active"
  notify_backup "$tools/lb-role.sh standby"
  notify_fault "$tools/lb-role.sh fault"
}
EOF
    if [[ $services == systemd ]] && systemctl is-active --quiet wg-quick@wg0; then
      # A restart would cut the tunnel and with it VRRP: apply the change in place.
      if ((wg_changed)); then wg syncconf wg0 <(wg-quick strip wg0); fi
    else
      systemd enable --now wg-quick@wg0
    fi
    # keepalived checks its interface too: test the config once wg0 is up.
    if [[ $services == systemd ]]; then
      out=$(keepalived -t -f "$ka_conf.new" 2>&1) || die "keepalived refuses the config: $out"
    fi
    if cmp -s "$ka_conf.new" "$ka_conf"; then rm -f "$ka_conf.new"; else
      mv -f "$ka_conf.new" "$ka_conf"
      ka_changed=1
    fi
    put "$ka_dropin" 0644 <<EOF || true
# VRRP runs inside wg0, and the tracked script asks nginx: start after both.
[Unit]
After=wg-quick@wg0.service nginx.service
Wants=wg-quick@wg0.service
EOF

    systemd daemon-reload
    if [[ $services == systemd ]] && systemctl is-active --quiet keepalived; then
      if ((ka_changed)); then systemctl reload keepalived; fi
    else
      systemd enable --now keepalived
    fi
    # The first LB's first start: it becomes master alone (master-down interval, ~2 s) before the
    # second LB starts, so the address never moves on a first `up` or a move to lbCount 2.
    if [[ $services == systemd ]]; then
      for ((i = 0; i < 40; i++)); do
        role=$(cat "$LAYOUT_LB_ROLE_FILE" 2>/dev/null || true)
        [[ $role == active || ($role == standby && $index == 1) ]] && break
        sleep 0.5
      done
      echo "failover.sh: wg0 $own <-> $other ($peer), keepalived priority $priority: this LB is ${role:-not yet settled}"
    fi
    ;;
  remove)
    [[ ${2:-} == --generation && ${3:-} =~ ^[0-9a-f]{64}$ ]] || die "usage: failover.sh remove --generation SHA256"
    if ! grep -qx "FAILOVER_GENERATION=$3" "$dir/failover.env" 2>/dev/null; then
      echo "failover.sh: the configuration in place is not generation $3 (a newer one replaced it): nothing removed"
      exit 0
    fi
    systemd disable --now keepalived || true
    systemd disable --now wg-quick@wg0 || true
    rm -f "$ka_conf" "$ka_dropin" "$wg_dir/wg0.conf" "$dir/token" "$dir/failover.env" "$root$LAYOUT_LB_ROLE_FILE"
    systemd daemon-reload
    echo "failover.sh: keepalived and wg0 removed; the reserved IP stays where it is"
    ;;
  *)
    die "usage: failover.sh key|token|configure|remove"
    ;;
esac
