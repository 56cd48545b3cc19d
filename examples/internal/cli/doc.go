// Package cli is what the reference servers (examples/server, examples/streamchat) share on
// their command line: flags with HUDDLE_* environment twins, and start-up errors a newcomer
// understands (a value that does not parse names its flag and shows what one looks like, a
// Redis address without its scheme says which URL is expected, a JWT secret too short to be
// safe is refused).
package cli
