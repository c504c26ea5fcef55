#!/bin/sh
# sign_command for the tests: never answers.  Its pid and that of the
# child it waits for go to $MENDERFS_TEST_PIDFILE, so the test can check
# that neither is left after the time-out.
sleep 1000 &
echo "$$ $!" >"$MENDERFS_TEST_PIDFILE"
echo "waiting for the signing server" >&2
wait
