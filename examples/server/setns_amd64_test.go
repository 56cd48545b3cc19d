//go:build linux

package main

// sysSetns is setns(2), which package syscall names on most Linux ports but not on amd64.
const sysSetns = 308
