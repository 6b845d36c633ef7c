package oidc

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestReadClaims(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", MaxNameBytes+1)
	for _, tc := range []struct {
		name   string
		claims string
		user   string
		groups []string
		err    string
	}{
		{"preferred_username first", `{"sub":"s1","email":"a@x","preferred_username":"alice","groups":["ops","web"]}`, "alice", []string{"ops", "web"}, ""},
		{"verified email next", `{"sub":"s1","email":"a@x","email_verified":true}`, "a@x", nil, ""},
		{"verified email as a string", `{"sub":"s1","email":"a@x","email_verified":"true"}`, "a@x", nil, ""},
		{"unverified email skipped", `{"sub":"s1","email":"a@x","email_verified":false}`, "s1", nil, ""},
		{"email without email_verified skipped", `{"sub":"s1","email":"a@x"}`, "s1", nil, ""},
		{"sub last", `{"sub":"s1","preferred_username":""}`, "s1", nil, ""},
		{"no name", `{"email":""}`, "", nil, "names no user"},
		{"name not a string falls through", `{"preferred_username":5,"sub":"s1"}`, "s1", nil, ""},
		{"one group as a string", `{"sub":"s","groups":"ops"}`, "s", []string{"ops"}, ""},
		{"null groups", `{"sub":"s","groups":null}`, "s", nil, ""},
		{"groups of another type", `{"sub":"s","groups":{"a":1}}`, "", nil, "neither a list"},
		{"a group not a string", `{"sub":"s","groups":["a",1]}`, "", nil, "neither a list"},
		{"control characters in the name", `{"preferred_username":"al\u0007ice"}`, "", nil, "control characters"},
		{"newline in a group", `{"sub":"s","groups":["a\nb"]}`, "", nil, "control characters"},
		{"empty group", `{"sub":"s","groups":[""]}`, "", nil, "is empty"},
		{"long name", `{"preferred_username":"` + long + `"}`, "", nil, "longer than"},
		{"too many groups", `{"sub":"s","groups":["a","b","c","d"]}`, "", nil, "more than the 3 allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var raw map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tc.claims), &raw); err != nil {
				t.Fatal(err)
			}
			w, err := readClaims(raw, "groups", 3)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v; want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil || w.User != tc.user || !slices.Equal(w.Groups, tc.groups) {
				t.Fatalf("readClaims = %+v, %v; want user %q groups %q", w, err, tc.user, tc.groups)
			}
		})
	}
}

func TestAuthorizedParty(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		claims string
		aud    []string
		ok     bool
	}{
		{"one audience, no azp", `{}`, []string{"wsdeck"}, true},
		{"several, azp is us", `{"azp":"wsdeck"}`, []string{"wsdeck", "other"}, true},
		{"several, no azp", `{}`, []string{"wsdeck", "other"}, false},
		{"several, azp another", `{"azp":"other"}`, []string{"wsdeck", "other"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var raw map[string]json.RawMessage
			json.Unmarshal([]byte(tc.claims), &raw)
			if err := authorizedParty(raw, tc.aud, "wsdeck"); (err == nil) != tc.ok {
				t.Fatalf("authorizedParty = %v; want ok %v", err, tc.ok)
			}
		})
	}
}

func TestReadClaimsOtherGroupsClaim(t *testing.T) {
	t.Parallel()
	var raw map[string]json.RawMessage
	json.Unmarshal([]byte(`{"sub":"s","groups":["no"],"roles":["ops"]}`), &raw)
	w, err := readClaims(raw, "roles", 10)
	if err != nil || !slices.Equal(w.Groups, []string{"ops"}) {
		t.Fatalf("readClaims(roles) = %+v, %v; want the roles claim's groups", w, err)
	}
}
