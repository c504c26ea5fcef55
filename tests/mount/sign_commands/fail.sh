#!/bin/sh
# sign_command for the tests: a signing server that refuses.
echo "signing server: permission denied for key release-2026" >&2
exit 1
