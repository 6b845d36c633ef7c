package oidc

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on what the console takes from a token.
const (
	// MaxNameBytes bounds a user's name.
	MaxNameBytes = 256
	// DefaultMaxGroups is Config.MaxGroups' default.
	DefaultMaxGroups = 256
	// maxGroupBytes bounds one group's name.
	maxGroupBytes = 256
)

// who is what the console takes from an ID token's claims.
type who struct {
	User   string
	Groups []string
}

// readClaims returns the user's name and groups from the claims of an ID
// token, raw: the name is preferred_username, else email if
// email_verified is true (an address anyone may type is no name to bind
// a role to), else sub; the
// groups are the claim named groupsClaim, a list of strings or one string
// (absent: none). A name or a group that is empty, too long or holds
// control characters is an error, as are more than maxGroups groups.
func readClaims(raw map[string]json.RawMessage, groupsClaim string, maxGroups int) (who, error) {
	var w who
	for _, c := range []string{"preferred_username", "email", "sub"} {
		if c == "email" && !verified(raw["email_verified"]) {
			continue
		}
		var s string
		if v, ok := raw[c]; ok && json.Unmarshal(v, &s) == nil && s != "" {
			if err := checkName(s); err != nil {
				return who{}, fmt.Errorf("the %s claim %w", c, err)
			}
			w.User = s
			break
		}
	}
	if w.User == "" {
		return who{}, fmt.Errorf("the ID token names no user (no preferred_username, email or sub)")
	}
	v, ok := raw[groupsClaim]
	if !ok || string(v) == "null" {
		return w, nil
	}
	var list []string
	if err := json.Unmarshal(v, &list); err != nil {
		var one string
		if json.Unmarshal(v, &one) != nil {
			return who{}, fmt.Errorf("the %q claim is neither a list of strings nor a string", groupsClaim)
		}
		list = []string{one}
	}
	if len(list) > maxGroups {
		return who{}, fmt.Errorf("the %q claim lists %d groups, more than the %d allowed (--oidc-max-groups)", groupsClaim, len(list), maxGroups)
	}
	for _, g := range list {
		if err := checkName(g); err != nil {
			return who{}, fmt.Errorf("a group of the %q claim %w", groupsClaim, err)
		}
	}
	w.Groups = list
	return w, nil
}

// verified reports whether v, an email_verified claim, is true (a JSON
// boolean, or the string "true" that some providers send).
func verified(v json.RawMessage) bool {
	var b bool
	if json.Unmarshal(v, &b) == nil {
		return b
	}
	var s string
	return json.Unmarshal(v, &s) == nil && s == "true"
}

// checkName returns an error (completing "the claim ...") for a name the
// console would not show as it is.
func checkName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("is empty")
	case len(s) > MaxNameBytes:
		return fmt.Errorf("is longer than %d bytes", MaxNameBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("is not UTF-8")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("holds control characters")
	}
	return nil
}

// authorizedParty returns an error if an ID token for several audiences
// does not name clientID as its authorized party (azp), as OpenID Connect
// Core 3.1.3.7 asks.
func authorizedParty(raw map[string]json.RawMessage, audiences []string, clientID string) error {
	if len(audiences) <= 1 {
		return nil
	}
	var azp string
	if json.Unmarshal(raw["azp"], &azp) != nil || azp != clientID {
		return fmt.Errorf("the ID token is for several audiences and its authorized party (azp) is %q, not this console (%s)", azp, clientID)
	}
	return nil
}
