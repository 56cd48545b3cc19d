package huddle_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// TestConsumerModuleGraph builds a fresh module that imports the root package (huddle.New) and
// the five core packages, as an application does, and counts the modules in its graph: the library's go.mod must carry only
// what the library packages import (SQL drivers, Redis and Pion live in their own modules).
func TestConsumerModuleGraph(t *testing.T) {
	is := is.New(t)
	if testing.Short() {
		t.Skip("runs go mod tidy")
	}
	root, err := filepath.Abs(".")
	is.NoErr(err) // the repository root
	dir := t.TempDir()
	write := func(name, text string) {
		is.NoErr(os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644)) // the consumer's files
	}
	write("go.mod", "module example.com/consumer\n\ngo 1.26.0\n\nrequire github.com/huddle-go/huddle v0.0.0-00010101000000-000000000000\n\nreplace github.com/huddle-go/huddle => "+root+"\n")
	write("main.go", `package main

import (
	_ "github.com/huddle-go/huddle"
	_ "github.com/huddle-go/huddle/chat"
	_ "github.com/huddle-go/huddle/meeting"
	_ "github.com/huddle-go/huddle/presence"
	_ "github.com/huddle-go/huddle/signaling"
	_ "github.com/huddle-go/huddle/signaling/ws"
)

func main() {}
`)
	run := func(args ...string) string {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		is.NoErr(err) // go mod tidy and go list -m all succeed in the consumer
		if err != nil {
			t.Logf("go %s:\n%s", strings.Join(args, " "), out)
		}
		return string(out)
	}
	run("mod", "tidy")
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(run("list", "-m", "all")), "\n") {
		names = append(names, strings.Fields(line)[0])
	}
	t.Logf("%d modules: %s", len(names), strings.Join(names, " "))
	is.True(len(names) > 1)   // go list printed the graph: the consumer and the library at least
	is.True(len(names) <= 15) // at most 15 modules in a consumer's graph (issue 24)
}
