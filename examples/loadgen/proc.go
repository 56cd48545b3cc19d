package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procSample is what the tool reads of the server process in /proc (Linux): its CPU time so
// far and its resident memory, now and at its peak.
type procSample struct {
	cpu   time.Duration // user + system
	rss   int64         // bytes (VmRSS)
	peak  int64         // bytes (VmHWM)
	valid bool
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times; 100 on every Linux port Go runs on.
const clockTicks = 100

// sampleProc reads /proc/<pid>/stat and /proc/<pid>/status; pid 0 samples nothing.
func sampleProc(pid int) (procSample, error) {
	if pid == 0 {
		return procSample{}, nil
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, err
	}
	// The command name (field 2) is parenthesised and may hold spaces: fields count from ')'.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return procSample{}, fmt.Errorf("loadgen: /proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return procSample{}, fmt.Errorf("loadgen: /proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return procSample{}, fmt.Errorf("loadgen: /proc/%d/stat: bad times", pid)
	}
	s := procSample{cpu: time.Duration(utime+stime) * time.Second / clockTicks, valid: true}
	file, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &s.rss
		case "VmHWM":
			dst = &s.peak
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err == nil {
			*dst = kb << 10
		}
	}
	return s, sc.Err()
}
