package huddle_test

import (
	"os"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// TestReadmeQuickStartIsTheExample: the README's quick start is the body and the imports of
// Example, which go test runs, so the README's code compiles and does what it prints.
func TestReadmeQuickStartIsTheExample(t *testing.T) {
	is := is.New(t)
	readme, err := os.ReadFile("README.md")
	is.NoErr(err) // the README is at the module root
	example, err := os.ReadFile("example_test.go")
	is.NoErr(err) // the Example is beside it

	// The README's block: a package main whose main is the Example's body.
	text := string(readme)
	start := strings.Index(text, "## Quick start")
	is.True(start >= 0) // the README has a quick start
	text = text[start:]
	block := between(text, "```go\n", "\n```")
	is.True(block != "") // with a Go code block

	ex := string(example)
	exBody := between(ex, "func Example() {\n", "\t// Output:")
	is.True(exBody != "")                                                               // the Example checks its output
	is.Equal(between(block, "func main() {\n", "\n}"), strings.TrimRight(exBody, "\n")) // main is the Example's body
	is.Equal(between(block, "import (", ")"), between(ex, "import (", ")"))             // with the same imports
	var printed []string
	for _, line := range strings.Split(between(ex, "// Output:\n", "\n}"), "\n") {
		printed = append(printed, strings.TrimPrefix(line, "\t// "))
	}
	is.True(strings.Contains(text, "```\n"+strings.Join(printed, "\n")+"\n```")) // the README shows what it prints
}

// between returns the text of s between the first from and the next to, or "".
func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	j := strings.Index(s, to)
	if j < 0 {
		return ""
	}
	return s[:j]
}
