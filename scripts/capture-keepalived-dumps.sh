#!/usr/bin/env bash
# Records real text (and JSON) dumps of every keepalived of the version matrix, for the dump parser
# tests: for each built flavour, a pair of directors in throw-away network namespaces (matrix-a,
# matrix-b) with two VRRP instances (VI_1 MASTER on a, VI_2 MASTER on b), a sync group, a
# vrrp_script, a track file where the version has one, and a virtual_ipaddress_excluded. Then director
# a is sent the DATA, STATS (and JSON) signals, and its keepalived.data, keepalived.stats (and
# keepalived.json) are kept under OUT_DIR/VERSION-FLAVOUR/, with where each file appeared
# (locations.txt), and what the notify FIFO (fifo.txt, from 1.3.6) and notify scripts (notify.txt)
# said up to director a's stop, and keepalived's warnings about the configuration (log-warnings.txt).
#
# Each keepalived runs in a mount namespace of its own with a private tmpfs on /tmp: before 2.2.5 it
# writes to /tmp whatever TMPDIR says, and two of them (or the host's) must not share those files.
# Needs root, iproute2, util-linux (unshare, nsenter) and scripts/keepalived-matrix.sh build.
#
# CAPTURE=sync-groups records the sync-group section of keepalived.data instead (a group of one member
# is dropped at start, so the dumps above have none): VI_1 and VI_2 in G_WEB, MASTER on a, BACKUP on b;
# master.data and backup.data, then fault.data once a's vrrp_script faults VI_1, which takes the group
# to FAULT (default OUT_DIR test/fixtures/keepalived/sync-groups).
#
# CAPTURE=script-init records keepalived.data while keepalived holds an instance whose weight-0
# vrrp_script has not answered yet (2.0+: FAULT, "Number of track scripts init = 1", no notification):
# awaiting.data while the script's first run is kept waiting, answered.data once it passed, and
# notify.txt (default OUT_DIR test/fixtures/keepalived/script-init).
# Usage: scripts/capture-keepalived-dumps.sh [OUT_DIR [FLAVOUR...]]   (default test/fixtures/keepalived/dumps)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mode=${CAPTURE:-dumps}
case "$mode" in dumps|sync-groups|script-init) ;; *) echo "CAPTURE=$mode: expected dumps, sync-groups or script-init" >&2; exit 2 ;; esac
out=${1:-"$here/../test/fixtures/keepalived/$mode"}
shift || true
# Not under /tmp: each keepalived mounts its own /tmp over it. Under /run, a path only root can write,
# so enable_script_security accepts the scripts in it (2.3 disables insecure scripts without it).
work=$(mktemp -d /run/matrix-dumps.XXXXXX)
ns=(matrix-a matrix-b)

stop_directors() {
  local n pid
  for n in 1 2; do
    pid=$(cat "$work/$n/ka.pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null || true
    # Bounded: keepalived stops within a second or two; then it is killed.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  for n in 1 2; do
    [ -f "$work/$n/reader.pid" ] && kill "$(cat "$work/$n/reader.pid")" 2>/dev/null || true
    rm -rf "${work:?}/$n"
  done
}
cleanup() {
  stop_directors
  for n in "${ns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

wait_for() { # wait_for SECONDS CMD... : poll a condition, bounded
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || { echo "timed out: $*" >&2; return 1; }; sleep 0.2; done
}
at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }   # at_least VERSION MIN

for n in "${ns[@]}"; do ip netns del "$n" 2>/dev/null || true; ip netns add "$n"; done
ip link add matrix-a0 netns matrix-a type veth peer name matrix-b0 netns matrix-b
for i in 0 1; do
  side=$([ $i = 0 ] && echo a || echo b)
  ip -n "matrix-$side" link set lo up
  ip -n "matrix-$side" addr add "198.18.7.$((i + 1))/24" dev "matrix-${side}0"
  ip -n "matrix-$side" link set "matrix-${side}0" up
done

write_config() { # write_config N VERSION
  local n=$1 version=$2 dir="$work/$1" dev p1 p2 track_block='' track_use='' fifo='' locations=''
  dev=matrix-$([ "$n" = 1 ] && echo a || echo b)0
  p1=$([ "$n" = 1 ] && echo 150 || echo 100); p2=$([ "$n" = 1 ] && echo 100 || echo 150)
  if at_least "$version" 2.0.0; then
    # 2.0 only knows vrrp_track_file; 2.1 renamed it track_file (capabilities.ts has the sources).
    local keyword=vrrp_track_file
    at_least "$version" 2.1.0 && keyword=track_file
    # value × weight: -30, so VI_2's effective priority (100 - 30 + 5) is not its base priority.
    echo -3 > "$dir/track/maintenance"
    track_block="$keyword maintenance {
  file $dir/track/maintenance
  weight 10
}"
    track_use="track_file {
    maintenance
  }"
  fi
  at_least "$version" 1.3.6 && fifo="vrrp_notify_fifo $dir/fifo"
  at_least "$version" 2.0.16 && fifo="$fifo
  vrrp_notify_priority_changes"
  # 2.3.3 added these keywords; a trailing / names a directory (global_data.c open_dump_file()).
  at_least "$version" 2.3.3 && locations="state_dump_file $dir/dump-files/
  stats_dump_file $dir/dump-files/
  json_dump_file $dir/dump-files/"
  cat > "$dir/keepalived.conf" <<CONF
global_defs {
  router_id matrix-lb$n
  script_user root
  enable_script_security
  $fifo
  $locations
}
vrrp_script check_service {
  # Not /bin/true: on a merged-/usr system /bin is a symlink, which 2.3's script security refuses.
  script "/usr/bin/true"
  interval 1
  weight 5
}
$track_block
vrrp_sync_group G_WEB {
  group {
    VI_1
  }
}
vrrp_instance VI_1 {
  state BACKUP
  interface $dev
  virtual_router_id 71
  priority $p1
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass FAKEpw1
  }
  virtual_ipaddress {
    198.18.7.50/24
    198.18.7.51/24 dev $dev label $dev:web
  }
  virtual_ipaddress_excluded {
    198.18.7.52/24
  }
  # A command with an argument: 1.3.5 takes the whole string for one file name.
  notify "$dir/notify.sh generic"
}
vrrp_instance VI_2 {
  state BACKUP
  interface $dev
  virtual_router_id 72
  priority $p2
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass FAKEpw2
  }
  virtual_ipaddress {
    198.18.7.60/24
  }
  # No argument: this one 1.3.5 runs too, so its notifications on stop show.
  notify $dir/notify.sh
  # Here, not in VI_1: keepalived ignores weighted tracking of a sync group's members.
  track_script {
    check_service
  }
  $track_use
}
CONF
}

write_group_config() { # write_group_config N VERSION: two instances in one sync group, tracking a script that can fail
  local n=$1 version=$2 dir="$work/$1" dev p group_track="" member_track=""
  dev=matrix-$([ "$n" = 1 ] && echo a || echo b)0
  p=$([ "$n" = 1 ] && echo 150 || echo 100)
  printf '#!/bin/sh\n[ ! -e %s/down ]\n' "$dir" > "$dir/chk.sh"
  chmod 755 "$dir/chk.sh"
  # 2.1.5 drops every tracker of a sync group's member (vrrp.c vrrp_complete_instance():
  # free_track_script_list()), so from 2.0 the group tracks it, for all members; 1.3.5 has no group tracking.
  if at_least "$version" 2.0.0; then
    group_track="  track_script {
    fault_vi1
  }"
  else
    member_track="  track_script {
    fault_vi1
  }"
  fi
  local vi
  {
    cat <<CONF
global_defs {
  router_id matrix-lb$n
  script_user root
  enable_script_security
}
# Without weight: failing, it puts VI_1 (and with it the group) in FAULT.
vrrp_script fault_vi1 {
  script "$dir/chk.sh"
  interval 1
}
vrrp_sync_group G_WEB {
  group {
    VI_1
    VI_2
  }
$group_track
  notify $dir/notify.sh
}
CONF
    for vi in 1 2; do
      cat <<CONF
vrrp_instance VI_$vi {
  state BACKUP
  interface $dev
  virtual_router_id 7$vi
  priority $p
  advert_int 1
  virtual_ipaddress {
    198.18.7.$((40 + 10 * vi))/24
  }
$([ $vi = 1 ] && echo "$member_track")
}
CONF
    done
  } > "$dir/keepalived.conf"
}

write_init_config() { # write_init_config N: VI_1 tracking, without weight, a script whose first run waits while DIR/hold exists
  local n=$1 dir="$work/$1" dev
  dev=matrix-$([ "$n" = 1 ] && echo a || echo b)0
  # Bounded: keepalived's own timeout ends a run that waits longer.
  printf '#!/bin/sh\nwhile [ -e %s/hold ]; do sleep 0.1; done\n' "$dir" > "$dir/chk.sh"
  chmod 755 "$dir/chk.sh"
  cat > "$dir/keepalived.conf" <<CONF
global_defs {
  router_id matrix-lb$n
  script_user root
  enable_script_security
}
vrrp_script first_answer {
  script "$dir/chk.sh"
  interval 1
  timeout 30
}
vrrp_instance VI_1 {
  state BACKUP
  interface $dev
  virtual_router_id 71
  priority $([ "$n" = 1 ] && echo 150 || echo 100)
  advert_int 1
  virtual_ipaddress {
    198.18.7.50/24
  }
  track_script {
    first_answer
  }
  notify $dir/notify.sh
}
CONF
}

prepare_directors() { # prepare_directors BINARY WRITE_CONFIG [ARG...]: data_signal, both directors' directories, notify scripts and configs
  local binary=$1 write=$2 n
  shift 2
  data_signal=$("$binary" --signum=DATA 2>/dev/null | grep -x '[0-9]*' || echo USR1)
  for n in 1 2; do
    mkdir -p "$work/$n/tmpdir" "$work/$n/dump-files"
    printf '#!/bin/sh\necho "$*" >> %s/notify.log\n' "$work/$n" > "$work/$n/notify.sh"
    chmod 755 "$work/$n/notify.sh"
    "$write" "$n" "$@"
  done
}

capture_script_init() { # capture_script_init FLAVOUR BINARY
  local flavour=$1 binary=$2 dest n started
  at_least "${flavour%-*}" 2.0.0 || { echo "$flavour: no such hold before 2.0 (vrrp_track.c num_script_init): skipped"; return 0; }
  dest="$out/$flavour"
  started=$SECONDS
  prepare_directors "$binary" write_init_config
  touch "$work/1/hold"
  start_directors "$binary"
  rm -rf "$dest"; mkdir -p "$dest"
  awaiting() { dump_data 1 && [ "$(state_of 1 VI_1)" = FAULT ] && grep -q '^   Number of track scripts init = 1$' "$work/1/data.txt"; }
  wait_for 20 awaiting || { tail -n 40 "$work/1/log" >&2; return 1; }
  cp "$work/1/data.txt" "$dest/awaiting.data"
  rm -f "$work/1/hold"
  answered() { dump_data 1 && [ "$(state_of 1 VI_1)" = MASTER ]; }
  wait_for 30 answered || { tail -n 40 "$work/1/log" >&2; return 1; }
  cp "$work/1/data.txt" "$dest/answered.data"
  cp "$work/1/notify.log" "$dest/notify.txt"
  # What keepalived logged of VI_1's states, without pid and time: the hold is not among them.
  grep -E '\(VI_1\)|VI_1' "$work/1/log" | grep -iE 'entering|state' | sed -E 's/^.*(Keepalived_vrrp|Keepalived)\[[0-9]+\]: //; s/^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} [0-9]{4}: //' > "$dest/log-states.txt" || true
  cp "$work/1/keepalived.conf" "$dest/keepalived.conf"
  sed -i "s#$work/[12]#/run/matrix#g" "$dest"/*
  stop_directors
  echo "$flavour: script init in $((SECONDS - started)) s"
}

# group_of N: the state director N's last keepalived.data gives G_WEB.
group_of() {
  sed -n 's/^ VRRP Sync Group = G_WEB, //p' "$work/$1/data.txt" 2>/dev/null
}

# state_of N INSTANCE: the state director N's last keepalived.data gives INSTANCE.
state_of() {
  awk -v want="$2" '/^ VRRP Instance = / { name = $NF } name == want && /^   State = / { print $NF; exit }' "$work/$1/data.txt" 2>/dev/null
}
# fetch N FILE: copy FILE from director N's private /tmp, its TMPDIR or its dump-files directory.
fetch() {
  local n=$1 file=$2 pid where
  pid=$(cat "$work/$n/ka.pid")
  for where in "$work/$n/tmpdir" "$work/$n/dump-files"; do
    [ -s "$where/$file" ] && { cat "$where/$file"; echo "${where#"$work/$n/"}" > "$work/$n/where-$file"; return 0; }
  done
  nsenter -t "$pid" -m cat "/tmp/$file" 2>/dev/null || return 1
  echo /tmp > "$work/$n/where-$file"
}
# fetch_complete N FILE TARGET: fetch FILE once keepalived has finished writing it (two reads agree).
fetch_complete() {
  fetch "$1" "$2" > "$3.1" && sleep 0.1 && fetch "$1" "$2" > "$3" && cmp -s "$3.1" "$3" && rm -f "$3.1"
}
dump() { # dump N FILE SIGNAL TARGET: signal director N, wait for a fresh FILE, keep it as TARGET
  clear_dump "$1" "$2"
  kill -"$3" "$(cat "$work/$1/ka.pid")"
  wait_for 5 fetch_complete "$1" "$2" "$4"
}
dump_data() { dump "$1" keepalived.data "$data_signal" "$work/$1/data.txt"; }
clear_dump() { # clear_dump N FILE: remove FILE wherever director N may write it
  local pid
  pid=$(cat "$work/$1/ka.pid")
  rm -f "$work/$1/tmpdir/$2" "$work/$1/dump-files/$2"
  nsenter -t "$pid" -m rm -f "/tmp/$2"
}
settled() { # VI_1 MASTER on a, VI_2 MASTER on b, VI_2 BACKUP on a, and adverts counted
  dump_data 1 && dump_data 2 || return 1
  [ "$(state_of 1 VI_1)" = MASTER ] && [ "$(state_of 1 VI_2)" = BACKUP ] && [ "$(state_of 2 VI_2)" = MASTER ]
}

start_directors() { # start_directors BINARY: both keepalived, each in its namespace with a private /tmp
  local n
  for n in 1 2; do
    ip netns exec "${ns[$((n - 1))]}" unshare -m --propagation private \
      sh -c 'mount -t tmpfs -o size=16m matrix-tmp /tmp && exec env TMPDIR="$1" "$2" -P -n -l -D -f "$3" -p "$4" -r "$5"' \
      sh "$work/$n/tmpdir" "$1" "$work/$n/keepalived.conf" "$work/$n/ka.pid" "$work/$n/vrrp.pid" \
      > "$work/$n/log" 2>&1 &
  done
  wait_for 20 test -s "$work/1/ka.pid"
  wait_for 20 test -s "$work/2/ka.pid"
}

capture_groups() { # capture_groups FLAVOUR BINARY
  local flavour=$1 binary=$2 dest n started
  dest="$out/$flavour"
  started=$SECONDS
  prepare_directors "$binary" write_group_config "${flavour%-*}"
  start_directors "$binary"
  rm -rf "$dest"; mkdir -p "$dest"
  master() { dump_data 1 && dump_data 2 && [ "$(group_of 1)" = MASTER ] && [ "$(state_of 1 VI_2)" = MASTER ] && [ "$(state_of 2 VI_1)" = BACKUP ] && [ "$(state_of 2 VI_2)" = BACKUP ]; }
  wait_for 30 master || { tail -n 40 "$work/1/log" >&2; return 1; }
  cp "$work/1/data.txt" "$dest/master.data"
  cp "$work/2/data.txt" "$dest/backup.data"
  touch "$work/1/down"
  faulted() { dump_data 1 && [ "$(state_of 1 VI_1)" = FAULT ] && [ "$(state_of 1 VI_2)" != MASTER ]; }
  wait_for 30 faulted || { grep -v 'on signal$' "$work/1/log" | tail -n 40 >&2; return 1; }
  cp "$work/1/data.txt" "$dest/fault.data"
  cp "$work/1/notify.log" "$dest/notify.txt"
  cp "$work/1/keepalived.conf" "$dest/keepalived.conf"
  sed -i "s#$work/[12]#/run/matrix#g" "$dest"/*
  stop_directors
  echo "$flavour: sync groups in $((SECONDS - started)) s"
}

capture_flavour() { # capture_flavour FLAVOUR BINARY
  local flavour=$1 binary=$2 version=${1%-*} dest n started
  dest="$out/$flavour"
  started=$SECONDS
  # 1.3.5 has no --signum: SIGUSR1/SIGUSR2 (capabilities.ts).
  data_signal=$("$binary" --signum=DATA 2>/dev/null | grep -x '[0-9]*' || echo USR1)
  stats_signal=$("$binary" --signum=STATS 2>/dev/null | grep -x '[0-9]*' || echo USR2)
  json_signal=$("$binary" --signum=JSON 2>/dev/null | grep -x '[0-9]*' || true)
  for n in 1 2; do
    mkdir -p "$work/$n/track" "$work/$n/tmpdir" "$work/$n/dump-files"
    printf '#!/bin/sh\necho "$*" >> %s/notify.log\n' "$work/$n" > "$work/$n/notify.sh"
    chmod 755 "$work/$n/notify.sh"
    write_config "$n" "$version"
    if at_least "$version" 1.3.6; then
      mkfifo "$work/$n/fifo"
      cat "$work/$n/fifo" > "$work/$n/fifo.log" & echo $! > "$work/$n/reader.pid"
    fi
  done
  # -P vrrp only, -n foreground, -l log to the console; a private /tmp for this keepalived alone.
  start_directors "$binary"
  wait_for 30 settled || { tail -n 40 "$work/1/log" >&2; return 1; }
  # A few more adverts, so the counters are not all zero: bounded by the stats themselves.
  rm -rf "$dest"; mkdir -p "$dest"
  counted() { dump 1 keepalived.stats "$stats_signal" "$dest/keepalived.stats" && awk '/Received:/ && $2 >= 3 { ok = 1 } END { exit !ok }' "$dest/keepalived.stats"; }
  wait_for 15 counted
  dump_data 1
  cp "$work/1/data.txt" "$dest/keepalived.data"
  if [ -n "$json_signal" ]; then
    dump 1 keepalived.json "$json_signal" "$dest/keepalived.json"
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$dest/keepalived.json"
  fi
  {
    for f in keepalived.data keepalived.stats keepalived.json; do
      [ -f "$work/1/where-$f" ] && printf '%s %s\n' "$f" "$(cat "$work/1/where-$f")"
    done
  } > "$dest/locations.txt"
  # Stop director a, so the FIFO and the notify script show what keepalived says on the way out.
  local pid
  pid=$(cat "$work/1/ka.pid")
  kill "$pid"
  wait_for 15 bash -c "! kill -0 $pid 2>/dev/null"
  [ -f "$work/1/fifo.log" ] && cp "$work/1/fifo.log" "$dest/fifo.txt"
  [ -f "$work/1/notify.log" ] && cp "$work/1/notify.log" "$dest/notify.txt"
  # What keepalived said about the configuration: warnings, disabled scripts (without pid and time).
  grep -iE 'warning|disabl|unable|unknown|error|not found|ignor|unsafe|wrong|script' "$work/1/log" | sed -E 's/^.*(Keepalived_vrrp|Keepalived)\[[0-9]+\]: //; s/^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} [0-9]{4}: //' > "$dest/log-warnings.txt" || true
  cp "$work/1/keepalived.conf" "$dest/keepalived.conf"
  # The config and dumps name the throw-away directory; one fixed name keeps the fixtures stable.
  sed -i "s#$work/1#/run/matrix#g" "$dest"/*
  stop_directors
  echo "$flavour: $(tr '\n' ' ' < "$dest/locations.txt")in $((SECONDS - started)) s"
}

built=$("$here/keepalived-matrix.sh" list)
[ -n "$built" ] || { echo "no keepalived built: run scripts/keepalived-matrix.sh build" >&2; exit 1; }
while IFS=$'\t' read -r flavour binary; do
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$flavour"; then continue; fi
  case "$mode" in
    sync-groups) capture_groups "$flavour" "$binary" ;;
    script-init) capture_script_init "$flavour" "$binary" ;;
    *) capture_flavour "$flavour" "$binary" ;;
  esac
done <<< "$built"
