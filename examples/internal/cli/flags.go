package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// EnvName returns the environment twin of a flag: jwt-secret → HUDDLE_JWT_SECRET.
func EnvName(flagName string) string {
	return "HUDDLE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs, then sets each flag that args did not set from its environment
// twin (EnvName), when that is not empty. It returns the names of the flags set either way.
//
// A value that does not parse is an error that names the flag (and the twin it came from) and
// shows what a value looks like: "invalid value "5" for flag -resume-window: not a duration:
// write a number and a unit, such as 90s, 1m30s or 2h". Nothing is printed then; -h prints
// fs.Usage to fs's output and returns flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) (map[string]bool, error) {
	restore := explain(fs)
	defer restore() // -h prints the flags with their own types ("duration", "int")
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		restore()
		if fs.Usage != nil {
			fs.Usage()
		} else {
			fs.PrintDefaults()
		}
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w (-h lists the flags)", err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || envErr != nil {
			return
		}
		v := getenv(EnvName(f.Name))
		if v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			envErr = fmt.Errorf("%s=%q (the environment twin of -%s): %w", EnvName(f.Name), v, f.Name, err)
			return
		}
		set[f.Name] = true
	})
	if envErr != nil {
		return nil, envErr
	}
	return set, nil
}

// explain gives the flags of the kinds whose own parse errors say only "parse error" (durations,
// booleans, numbers) a Value that says what was expected; restore puts the original Values
// back. It may be called more than once.
func explain(fs *flag.FlagSet) (restore func()) {
	orig := map[*flag.Flag]flag.Value{}
	fs.VisitAll(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if !ok {
			return
		}
		var check func(string) error
		switch g.Get().(type) {
		case time.Duration:
			check = func(s string) error {
				if _, err := time.ParseDuration(s); err != nil {
					return errors.New("not a duration: write a number and a unit, such as 90s, 1m30s or 2h")
				}
				return nil
			}
		case bool:
			check = func(s string) error {
				if _, err := strconv.ParseBool(s); err != nil {
					return fmt.Errorf("not a boolean: write true or false (-%s alone means true)", f.Name)
				}
				return nil
			}
		case int, int64:
			check = func(s string) error {
				if _, err := strconv.ParseInt(s, 0, 64); err != nil {
					return errors.New("not a whole number, such as 100 or -1")
				}
				return nil
			}
		case float64:
			check = func(s string) error {
				if _, err := strconv.ParseFloat(s, 64); err != nil {
					return errors.New("not a number, such as 10 or 2.5")
				}
				return nil
			}
		default:
			return
		}
		orig[f] = f.Value
		f.Value = &checked{Getter: g, check: check}
	})
	return func() {
		for f, v := range orig {
			f.Value = v
		}
		clear(orig)
	}
}

// checked is a flag.Value that checks a value before its inner Value parses it.
type checked struct {
	flag.Getter
	check func(string) error
}

func (c *checked) Set(s string) error {
	if err := c.check(s); err != nil {
		return err
	}
	return c.Getter.Set(s)
}

// IsBoolFlag keeps a bare -flag meaning true for a boolean.
func (c *checked) IsBoolFlag() bool {
	b, ok := c.Getter.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func (c *checked) String() string {
	if c == nil || c.Getter == nil {
		return ""
	}
	return c.Getter.String()
}
