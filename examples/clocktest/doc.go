// Package clocktest holds no code: its test shows, from outside the module's packages, that an
// embedder can implement clock.Clock with a type of its own and drive Huddle's timers (chat's
// typing auto-stop, a meeting's participant grace) in its tests without sleeping.
package clocktest
