//go:build linux

package main

import "syscall"

// sysSetns is setns(2).
const sysSetns = syscall.SYS_SETNS
