# The power-off that ends every guest script (build, finish, verify): sync,
# then, without a result port (a cloud's server, whose console the cloud only
# shows while it runs), stay up LINGER seconds after the last line; the host
# stops the machine as soon as it has read it.
power_off() {
    sync
    if [ ! -e "$RESULT_PORT" ]; then
        sleep "$LINGER"
    fi
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl poweroff --no-block
    else
        poweroff -f
    fi
}
