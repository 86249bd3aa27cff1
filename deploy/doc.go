// Package deploy holds rampart's deployment files (systemd units, firewall
// rules, fail2ban and CrowdSec configurations) and the tests that hold
// them to the binary: the units verify with systemd-analyze, the rulesets
// parse, and the log filters match what package seclog writes. It has no
// Go API. docs/deploy.md explains their use.
package deploy
