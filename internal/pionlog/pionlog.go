// Package pionlog sends Pion's logs to a slog.Logger, for the packages that quarantine Pion
// (meeting/peer, signaling/turnserver).
package pionlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// Factory is a logging.LoggerFactory that logs one level down: Pion warns about much that is
// routine (a closed stream during teardown, a client that went away), so its info and warnings
// become Debug and its errors Warn; trace and debug (per packet) are dropped.
type Factory struct{ Log *slog.Logger }

// NewLogger returns the logger of one Pion scope.
func (f Factory) NewLogger(scope string) logging.LeveledLogger {
	return logger{log: f.Log.With("pion", scope)}
}

type logger struct{ log *slog.Logger }

func (logger) Trace(string)                        {}
func (logger) Tracef(string, ...any)               {}
func (logger) Debug(string)                        {}
func (logger) Debugf(string, ...any)               {}
func (l logger) Info(msg string)                   { l.log.Debug(msg) }
func (l logger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args) }
func (l logger) Warn(msg string)                   { l.log.Debug(msg) }
func (l logger) Warnf(format string, args ...any)  { l.logf(slog.LevelDebug, format, args) }
func (l logger) Error(msg string)                  { l.log.Warn(msg) }
func (l logger) Errorf(format string, args ...any) { l.logf(slog.LevelWarn, format, args) }

func (l logger) logf(level slog.Level, format string, args []any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}
