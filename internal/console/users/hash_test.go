package users

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// fast are cheap parameters for tests that are not about the cost.
var fast = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashDefaultParams(t *testing.T) {
	t.Parallel()
	h, err := Hash("correct horse battery staple", Params{})
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(h) {
		t.Fatalf("hash %q is not a PHC string with OWASP's parameters", h)
	}
	p, err := HashParams(h)
	if err != nil || p != DefaultParams {
		t.Fatalf("HashParams = %+v, %v; want %+v", p, err, DefaultParams)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"correct horse battery staple", true},
		{"correct horse battery staplE", false},
		{"", false},
		{"correct horse battery staple ", false},
	} {
		ok, err := CheckHash(h, tc.pw)
		if err != nil || ok != tc.want {
			t.Errorf("CheckHash(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
}

func TestHashSaltPerCall(t *testing.T) {
	t.Parallel()
	a, _ := Hash("same password", fast)
	b, _ := Hash("same password", fast)
	if a == b {
		t.Fatalf("two hashes of one password are equal: %q", a)
	}
	if strings.Split(a, "$")[4] == strings.Split(b, "$")[4] {
		t.Fatal("two hashes share a salt")
	}
}

// TestHashKnownAnswer checks the encoding against a hash computed
// independently (RFC 9106's argon2id with these inputs, as the argon2
// reference CLI prints it).
func TestHashKnownAnswer(t *testing.T) {
	t.Parallel()
	// echo -n password | argon2 somesalt -id -t 2 -m 16 -p 1 -l 32 -e
	const h = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	ok, err := CheckHash(h, "password")
	if err != nil || !ok {
		t.Fatalf("CheckHash(reference) = %v, %v", ok, err)
	}
}

func TestCheckHashRefuses(t *testing.T) {
	t.Parallel()
	good, _ := Hash("pw", fast)
	f := strings.Split(good, "$")
	salt, sum := f[4], f[5]
	for _, tc := range []struct{ name, hash string }{
		{"empty", ""},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + sum},
		{"old version", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + sum},
		{"missing p", "$argon2id$v=19$m=64,t=1$" + salt + "$" + sum},
		{"repeated m", "$argon2id$v=19$m=64,m=64,t=1$" + salt + "$" + sum},
		{"unknown key", "$argon2id$v=19$m=64,t=1,x=1$" + salt + "$" + sum},
		{"memory beyond 1 GiB", "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + sum},
		{"too many passes", "$argon2id$v=19$m=64,t=1000,p=1$" + salt + "$" + sum},
		{"zero lanes", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + sum},
		{"lanes overflow", "$argon2id$v=19$m=64,t=1,p=257$" + salt + "$" + sum},
		{"short salt", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + sum},
		{"bad base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$!!!"},
		{"extra field", good + "$x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := CheckHash(tc.hash, "pw")
			if ok || !errors.Is(err, ErrBadHash) {
				t.Fatalf("CheckHash = %v, %v; want ErrBadHash", ok, err)
			}
		})
	}
}

func FuzzCheckHash(f *testing.F) {
	good, _ := Hash("pw", fast)
	f.Add(good, "pw")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$$", "")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		p, err := HashParams(hash)
		if err != nil {
			return
		}
		if p.Memory > 4096 || p.Time > 2 {
			return // valid but slow: not what the fuzzer is for
		}
		_, _ = CheckHash(hash, pw)
	})
}
