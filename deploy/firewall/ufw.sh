#!/bin/sh
# ufw rules for a host running rampart: 443 (HTTPS) and 80 (redirect, ACME
# HTTP-01) open, port 9180 (the admin listener's, admin.listen,
# 127.0.0.1:9180) closed to the outside (loopback traffic is not filtered
# by ufw), SSH kept open with ufw's rate limit, everything else denied.
#
# ufw cannot set a per-client rate for new connections other than its
# fixed "limit" (6 in 30 s), too low for browsers on 443: use rampart.nft
# for that, or rely on rampart's own per-client limits.
#
# Usage: sudo sh deploy/firewall/ufw.sh      (then: sudo ufw enable)
#        UFW="echo ufw" sh deploy/firewall/ufw.sh   prints the commands only
set -eu
UFW=${UFW:-ufw}
SSH_PORT=${SSH_PORT:-22}

$UFW default deny incoming
$UFW default allow outgoing
$UFW limit "$SSH_PORT/tcp" comment 'ssh'
$UFW allow 443/tcp comment 'rampart https'
$UFW allow 80/tcp comment 'rampart http redirect and acme'
$UFW deny 9180/tcp comment 'rampart admin: loopback only'
