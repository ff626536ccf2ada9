#!/bin/sh
# pipeline user-data (wrapper version @WRAPPER_VERSION@), generated: do not edit.
#
# cloud-init runs this once. It runs the cell's provisioning script with the
# build's secrets in its environment, reports the result to the host on a
# virtio-serial port, and then, only if the script succeeded, makes the disk
# boot fresh as a new instance (cloud-init state, logs, journal and machine-id
# removed, free blocks trimmed) before powering off. It is POSIX sh so that
# it also runs on minimal test images without cloud-init or systemd.
set -u

NONCE='@NONCE@'
WORK=/run/pipeline
RESULT_PORT=/dev/virtio-ports/@RESULT_PORT@
# Without the result port (a cloud's server) the host reads the console,
# which the cloud only shows while the guest runs: stay up this long after
# the last line. The host stops the server as soon as it has read it.
LINGER=@LINGER@

report() {
    line="PIPELINE_RESULT $NONCE $1"
    if [ -e "$RESULT_PORT" ]; then
        printf '\n%s\n' "$line" >"$RESULT_PORT"
    fi
    # The console copy is for people reading the log.
    printf '\n%s\n' "$line" >/dev/console 2>/dev/null || printf '\n%s\n' "$line"
}

@POWER_OFF@

# Secrets travel on the seed disk, never in this user-data (cloud-init keeps
# copies of user-data on the image's disk). Each line: NAME BASE64VALUE.
load_secrets() {
    dev=$(blkid -L CIDATA 2>/dev/null || blkid -L cidata 2>/dev/null) || return 0
    mkdir -p "$WORK/seed" || return 1
    mount -o ro "$dev" "$WORK/seed" || return 1
    if [ -f "$WORK/seed/secrets" ]; then
        while read -r name value; do
            [ -n "$name" ] || continue
            value=$(printf '%s' "$value" | base64 -d) || return 1
            export "$name=$value"
        done <"$WORK/seed/secrets"
    fi
    umount "$WORK/seed"
}

umask 077
mkdir -p "$WORK"
# /run is a tmpfs: the script never touches the image's disk.
base64 -d >"$WORK/provision" <<'PIPELINE_PROVISION_EOF'
@SCRIPT_BASE64@
PIPELINE_PROVISION_EOF
chmod 700 "$WORK/provision"

if ! load_secrets; then
    report "script=125 secrets-unreadable"
    power_off
    exit 125
fi

# /run is mounted noexec on some systems: start the interpreter the
# script's shebang names instead of executing the file.
IFS= read -r shebang <"$WORK/provision"
interpreter=${shebang#\#!}
# shellcheck disable=SC2086 # the interpreter and its optional argument
# The provisioning script gets the usual umask, not this wrapper's private one.
(umask 022 && exec $interpreter "$WORK/provision" </dev/null)
code=$?
rm -f "$WORK/provision"
for name in $(env | sed -n 's/^\(PIPELINE_SECRET_[A-Z0-9_]*\)=.*/\1/p'); do
    unset "$name"
done
report "script=$code"
if [ "$code" -ne 0 ]; then
    power_off
    exit "$code"
fi

cat >"$WORK/finish" <<'PIPELINE_FINISH_EOF'
#!/bin/sh
# Runs after cloud-init has finished this boot, so that nothing it writes
# afterwards survives into the image.
set -u
NONCE='@NONCE@'
RESULT_PORT=/dev/virtio-ports/@RESULT_PORT@
LINGER=@LINGER@
@POWER_OFF@
status=0
if command -v cloud-init >/dev/null 2>&1; then
    cloud-init clean --logs || status=$?
    rm -rf /var/lib/cloud/instance /var/lib/cloud/instances /var/lib/cloud/data
fi
# A fresh machine-id on the next boot, as for any cloud image.
if [ -f /etc/machine-id ]; then
    : >/etc/machine-id
fi
if [ -f /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ]; then
    rm -f /var/lib/dbus/machine-id
fi
# The journal holds this boot, provisioning output included: move journald
# to /run and drop the persistent files.
if [ -d /var/log/journal ] && command -v journalctl >/dev/null 2>&1; then
    journalctl --relinquish-var >/dev/null 2>&1 || true
    rm -rf /var/log/journal/*
fi
# Give freed blocks back, so deleted files are not in the snapshot; sync
# first so that blocks freed just now are free on disk.
sync
if command -v fstrim >/dev/null 2>&1; then
    fstrim -a >/dev/null 2>&1 || true
fi
sync
line="PIPELINE_RESULT $NONCE clean=$status"
if [ -e "$RESULT_PORT" ]; then
    printf '\n%s\n' "$line" >"$RESULT_PORT"
fi
printf '\n%s\n' "$line" >/dev/console 2>/dev/null || printf '\n%s\n' "$line"
power_off
PIPELINE_FINISH_EOF

if command -v cloud-init >/dev/null 2>&1 && command -v systemd-run >/dev/null 2>&1 &&
    [ -d /run/systemd/system ]; then
    # Ordered after cloud-final: starts once this cloud-init stage has exited.
    systemd-run --no-block --unit=pipeline-finish --property=After=cloud-final.service \
        /bin/sh "$WORK/finish"
else
    /bin/sh "$WORK/finish"
fi
exit 0
