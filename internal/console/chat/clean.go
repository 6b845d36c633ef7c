package chat

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wsdeck/wsdeck/internal/console/auth"
)

// MaxNickRunes is the longest nickname, in characters.
const MaxNickRunes = 32

const guestNickPrefix = "guest-"

// CleanText neutralises a message's text. The bidi embedding, override and
// isolate controls (U+202A-U+202E, U+2066-U+2069) are removed: they reorder
// what a reader sees (after U+202E the rest shows reversed, so "txt.exe"
// can read "exe.txt"). So are the control characters, but tab and newline.
// Nicknames refuse these and every other format character (CleanNick); a
// message keeps the others, which text needs: joiners in emoji, soft
// hyphens, the marks LRM and RLM of right-to-left writing. Text that is not
// UTF-8 has its bad bytes replaced with U+FFFD.
func CleanText(text string) string {
	if strings.IndexFunc(text, removedFromText) < 0 && utf8.ValidString(text) {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	for _, r := range text { // a bad byte comes as U+FFFD
		if !removedFromText(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// removedFromText reports whether CleanText removes r.
func removedFromText(r rune) bool {
	switch {
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == '\t' || r == '\n':
		return false
	}
	return unicode.IsControl(r)
}

// CleanNick trims a nickname and checks it: 1 to MaxNickRunes characters,
// none of them control or format characters.
func CleanNick(nick string) (string, error) {
	nick = strings.TrimSpace(nick)
	switch {
	case nick == "":
		return "", fmt.Errorf("empty nickname")
	case !utf8.ValidString(nick):
		return "", fmt.Errorf("nickname is not UTF-8")
	case utf8.RuneCountInString(nick) > MaxNickRunes:
		return "", fmt.Errorf("nickname over %d characters", MaxNickRunes)
	case strings.IndexFunc(nick, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0:
		return "", fmt.Errorf("nickname with a control character")
	}
	return nick, nil
}

func guestNick() string { return guestNickPrefix + strings.ToLower(rand.Text()[:4]) }

// loginName returns the name a logged-in user has in the chat, and true,
// in team mode: the identity auth's middleware put in the request (a
// password or single sign-on login), cleaned as a nickname is (control
// and format characters left out, cut to MaxNickRunes). In token mode,
// where the one person is the admin, it returns false: the nickname is
// theirs to choose, as before team mode.
func loginName(r *http.Request) (string, bool) {
	id, ok := auth.IdentityFrom(r.Context())
	if !ok || id.Method == auth.MethodToken || id.Method == "" || id.User == "" {
		return "", false
	}
	var b strings.Builder
	n := 0
	for _, c := range strings.ToValidUTF8(id.User, "\uFFFD") {
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) {
			continue
		}
		if n == MaxNickRunes {
			break
		}
		b.WriteRune(c)
		n++
	}
	name := strings.TrimSpace(b.String())
	if name == "" {
		name = "user"
	}
	return name, true
}
