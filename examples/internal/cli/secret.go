package cli

import "fmt"

// MinJWTSecretBytes is the shortest -jwt-secret the reference servers accept: an HS256 key
// shorter than the hash (32 bytes) can be guessed offline from one token.
const MinJWTSecretBytes = 32

// CheckJWTSecret refuses a -jwt-secret shorter than MinJWTSecretBytes, saying how to make one.
func CheckJWTSecret(secret string) error {
	if len(secret) >= MinJWTSecretBytes {
		return nil
	}
	return fmt.Errorf("-jwt-secret is %d bytes: it signs every token, so it must be at least %d bytes (make one with: openssl rand -hex 32)", len(secret), MinJWTSecretBytes)
}
