package config

import (
	"net/url"
	"strings"
)

// redactedPassword stands for a password in printed URLs, as in
// url.URL.Redacted.
const redactedPassword = "xxxxx"

// RedactURL returns raw fit for printing: the password of its user
// information, if any, replaced by "xxxxx". Text that does not parse as a
// URL loses its whole user information, so a malformed URL leaks nothing
// either.
func RedactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		if _, has := u.User.Password(); !has {
			return raw // as written: String() would normalise it
		}
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return raw
	}
	return scheme + "://" + redactedPassword + rest[at:]
}

// hasPassword reports whether raw carries a password in its user information.
func hasPassword(raw string) bool {
	return RedactURL(raw) != raw
}
