#!/bin/bash
# leakproxy-healthcheck [--ready] -- GET /healthz on leakproxy's admin address.
#
# Exit 0 when leakproxy answers 200 with {"status":"ok"}; also with
# {"status":"draining"} (after SIGTERM) unless --ready is given, so that a
# liveness check does not kill a process that is finishing its requests
# while a readiness check takes it out of rotation.
#
#   LEAKPROXY_ADMIN   admin address (default 127.0.0.1:9091; 0.0.0.0 and
#                     [::] are asked on the loopback address)
#   LEAKPROXY_TOKEN   the admin_token, sent as a bearer token when set
#
# Needs bash only (/dev/tcp): the runtime image has no curl.
set -u
ready=0
[ "${1:-}" = "--ready" ] && ready=1
addr=${LEAKPROXY_ADMIN:-127.0.0.1:9091}
host=${addr%:*}
port=${addr##*:}
host=${host#[}
host=${host%]}
case $host in
  0.0.0.0 | "") host=127.0.0.1 ;;
  ::) host=::1 ;;
esac

if ! { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
  echo "leakproxy-healthcheck: cannot connect to $host:$port" >&2
  exit 1
fi
{
  printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n' "$addr"
  [ -n "${LEAKPROXY_TOKEN:-}" ] && printf 'Authorization: Bearer %s\r\n' "$LEAKPROXY_TOKEN"
  printf '\r\n'
} >&3
# the admin server closes the connection after an HTTP/1.0 answer
IFS= read -r -d '' -t 3 answer <&3
exec 3<&-

case $answer in
  "HTTP/1."[01]" 200 "*) ;;
  *)
    echo "leakproxy-healthcheck: ${answer%%$'\r'*}" >&2
    exit 1 ;;
esac
body=${answer##*$'\r\n\r\n'}
body=${body//[[:space:]]/}
case $body in
  *'"status":"ok"'*) exit 0 ;;
  *'"status":"draining"'*)
    [ "$ready" -eq 0 ] && exit 0
    echo "leakproxy-healthcheck: draining" >&2
    exit 1 ;;
esac
echo "leakproxy-healthcheck: unexpected answer: $body" >&2
exit 1
