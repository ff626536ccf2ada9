#!/bin/sh
# pipeline verify user-data (wrapper version @WRAPPER_VERSION@), generated: do not edit.
#
# cloud-init runs this on the first boot of a built image as a new instance
# (the host boots it on a throwaway overlay: nothing here reaches the image
# that is published). Once cloud-init has finished, the checks run: what
# every image must show (cloud-init ran as this new instance and reached
# `done`, a machine-id made for this boot, no earlier seed and no secret left
# on the disk, the root filesystem grown to its disk), then the recipe's
# verify script. Each check is reported on a virtio-serial port (and the
# console), then the guest powers off. POSIX sh, like the build wrapper.
set -u

WORK=/run/pipeline-verify
umask 077
mkdir -p "$WORK"
# /run is a tmpfs: nothing of this touches the disk under test.
base64 -d >"$WORK/check" <<'PIPELINE_VERIFY_EOF'
@SCRIPT_BASE64@
PIPELINE_VERIFY_EOF
# Strings no file of the image may hold: the build's nonce (in every copy of
# the build's user-data and in its logs). Encoded, so that this user-data,
# which cloud-init keeps on the disk, does not hold them itself.
base64 -d >"$WORK/forbidden" <<'PIPELINE_FORBIDDEN_EOF'
@FORBIDDEN_BASE64@
PIPELINE_FORBIDDEN_EOF

cat >"$WORK/run" <<'PIPELINE_RUN_EOF'
#!/bin/sh
# Runs after cloud-init has finished this boot, so that it sees its status.
set -u
NONCE='@NONCE@'
# The instance-id this boot gives the guest, when the host knows it before
# the guest starts (a cloud names it when it creates the server), and the
# build's (encoded: it may hold the build's nonce).
INSTANCE_ID='@INSTANCE_ID@'
BUILD_INSTANCE_ID=$(printf '%s' '@BUILD_INSTANCE_ID_BASE64@' | base64 -d)
DISK_SIZE=@DISK_SIZE@
WORK=/run/pipeline-verify
RESULT_PORT=/dev/virtio-ports/@RESULT_PORT@
LINGER=@LINGER@
# What is searched for leftovers: where a build writes, not the OS's files.
SEARCH="/etc /var /root /home /opt /srv /tmp /usr/local /boot"
failed=0
@POWER_OFF@

report() {
    if [ -e "$RESULT_PORT" ]; then
        printf '\n%s\n' "$1" >"$RESULT_PORT"
    fi
    printf '\n%s\n' "$1" >/dev/console 2>/dev/null || printf '\n%s\n' "$1"
}
pass() { report "PIPELINE_CHECK $NONCE ok $*"; }
fail() {
    report "PIPELINE_CHECK $NONCE fail $*"
    failed=$((failed + 1))
}
one_line() { tr '\n' ' ' | cut -c1-300; }

# cloud-init: finished, as the instance this boot made.
if command -v cloud-init >/dev/null 2>&1; then
    status=$(cloud-init status --wait 2>&1 | one_line)
    case "$status" in
    *"status: done"*) pass "cloud-init reached done" ;;
    *) fail "cloud-init did not reach done: $status" ;;
    esac
    id=$(cat /var/lib/cloud/data/instance-id 2>/dev/null)
    if [ -z "$id" ] || [ "$id" = "$BUILD_INSTANCE_ID" ]; then
        fail "cloud-init ran as instance '$id', the build's, not a new one"
    elif [ -n "$INSTANCE_ID" ] && [ "$id" != "$INSTANCE_ID" ]; then
        fail "cloud-init ran as instance '$id', not the new instance $INSTANCE_ID"
    else
        pass "cloud-init ran as the new instance $id"
    fi
    others=
    for dir in /var/lib/cloud/instances/*; do
        [ -e "$dir" ] && [ "${dir##*/}" != "$id" ] && others="$others ${dir##*/}"
    done
    if [ -z "$others" ]; then
        pass "no earlier instance in /var/lib/cloud"
    else
        fail "earlier instances left in /var/lib/cloud/instances: $others"
    fi
else
    fail "cloud-init is not installed"
fi

# The machine-id: made at this boot (the image's was empty), not copied.
machine_id=$(cat /etc/machine-id 2>/dev/null)
if ! printf '%s' "$machine_id" | grep -Eqx '[0-9a-f]{32}'; then
    fail "/etc/machine-id is not a machine id: '$machine_id'"
elif journalctl -b 0 -o cat 2>/dev/null | grep -q '^Initializing machine ID' ||
    [ "$(systemctl show -p ConditionResult --value systemd-machine-id-commit.service 2>/dev/null)" = yes ]; then
    pass "/etc/machine-id was made at this boot"
else
    fail "/etc/machine-id was not made at this boot: the image carries one, and every instance would share it"
fi

# One seed: this boot's. An earlier one (a second CIDATA or config drive)
# would hand its user-data to every instance.
seeds=$(for label in CIDATA cidata config-2 CONFIG-2; do blkid -o device -t "LABEL=$label" 2>/dev/null; done | sort -u)
count=$(printf '%s\n' "$seeds" | grep -c .)
if [ "$count" -le 1 ]; then
    pass "one seed attached: this boot's"
else
    fail "$count seeds attached: $(printf '%s' "$seeds" | one_line)"
fi

# Leftovers of the build: its nonce and the secrets' values (the host puts
# the values on this boot's seed, never in user-data). Lines shorter than 4
# bytes would match everywhere and are not searched for.
dev=$(blkid -L CIDATA 2>/dev/null || blkid -L cidata 2>/dev/null || true)
if [ -n "$dev" ] && mkdir -p "$WORK/seed" && mount -o ro "$dev" "$WORK/seed" 2>/dev/null; then
    if [ -f "$WORK/seed/forbidden" ]; then
        while read -r _ value; do
            printf '%s' "$value" | base64 -d
            echo
        done <"$WORK/seed/forbidden" >>"$WORK/forbidden"
    fi
    umount "$WORK/seed"
fi
grep -E '^.{4,}$' "$WORK/forbidden" >"$WORK/patterns" || true
dirs=$(for d in $SEARCH; do [ -d "$d" ] && printf '%s ' "$d"; done)
if [ ! -s "$WORK/patterns" ]; then
    fail "nothing to search for leftovers of the build (a bug in pipeline)"
else
    # shellcheck disable=SC2086 # the list of directories
    found=$(grep -rlsF -f "$WORK/patterns" $dirs 2>/dev/null | head -n 10 | one_line)
    if [ -z "$found" ]; then
        pass "no secret and no trace of the build's seed in $dirs"
    else
        fail "the build's seed or a secret is still on the disk, in: $found"
    fi
fi
rm -f "$WORK/forbidden" "$WORK/patterns"

# The root filesystem: grown to fill its disk, which is at least disk_size.
root=$(findmnt -no SOURCE / 2>/dev/null)
part=${root##*/}
disk=$(lsblk -no PKNAME "$root" 2>/dev/null | head -n 1)
if [ -z "$part" ] || [ ! -e "/sys/class/block/$part/size" ]; then
    fail "cannot find the root filesystem's device ('$root')"
else
    part_bytes=$(($(cat "/sys/class/block/$part/size") * 512))
    if [ -n "$disk" ]; then
        disk_bytes=$(($(cat "/sys/class/block/$disk/size") * 512))
        part_end=$((($(cat "/sys/class/block/$part/start") * 512) + part_bytes))
    else
        disk=$part disk_bytes=$part_bytes part_end=$part_bytes
    fi
    fs_bytes=$(df -B1 --output=size / | tail -n 1 | tr -d ' ')
    mib() { echo "$(($1 / 1048576)) MiB"; }
    if [ "$DISK_SIZE" -gt 0 ] && [ "$disk_bytes" -lt "$DISK_SIZE" ]; then
        fail "the disk /dev/$disk is $(mib "$disk_bytes"), less than disk_size ($(mib "$DISK_SIZE"))"
    elif [ $((disk_bytes - part_end)) -gt 16777216 ]; then
        fail "the root partition $root ends $(mib $((disk_bytes - part_end))) before the end of /dev/$disk: it was not grown"
    elif [ $((fs_bytes * 10)) -lt $((part_bytes * 9)) ]; then
        fail "the root filesystem is $(mib "$fs_bytes") on a $(mib "$part_bytes") partition: it was not grown"
    else
        pass "the root filesystem fills /dev/$disk ($(mib "$fs_bytes") of $(mib "$disk_bytes"))"
    fi
fi

# The recipe's own checks, with their output on the console.
IFS= read -r shebang <"$WORK/check"
interpreter=${shebang#\#!}
# shellcheck disable=SC2086 # the interpreter and its optional argument
(umask 022 && exec $interpreter "$WORK/check" </dev/null >/dev/console 2>&1)
code=$?
report "PIPELINE_RESULT $NONCE checks=$failed"
report "PIPELINE_RESULT $NONCE script=$code"
power_off
PIPELINE_RUN_EOF

if command -v systemd-run >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    # Ordered after cloud-final: starts once this cloud-init stage has exited.
    systemd-run --no-block --unit=pipeline-verify --property=After=cloud-final.service \
        /bin/sh "$WORK/run"
else
    # Without systemd, cloud-init's status cannot be awaited from inside it.
    /bin/sh "$WORK/run"
fi
exit 0
