package websocket

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// This file parses Sec-WebSocket-Extensions (RFC 6455 section 9.1) and
// negotiates permessage-deflate (RFC 7692 section 7).

// extension is one element of an extension list: a name and its
// parameters, in order. A parameter without a value has value "" and
// hasValue false.
type extension struct {
	name   string
	params []extParam
}

type extParam struct {
	name     string
	value    string
	hasValue bool
}

// parseExtensions parses every Sec-WebSocket-Extensions header of h.
//
//	extension-list = 1#extension
//	extension      = extension-token *( ";" extension-param )
//	extension-param = token [ "=" (token | quoted-string) ]
func parseExtensions(h http.Header) ([]extension, error) {
	var exts []extension
	for _, v := range h.Values("Sec-WebSocket-Extensions") {
		p := extParser{s: v}
		for {
			p.skipSpace()
			if p.done() {
				break
			}
			if p.peek() == ',' { // empty list elements are allowed
				p.i++
				continue
			}
			e, err := p.extension()
			if err != nil {
				return nil, fmt.Errorf("Sec-WebSocket-Extensions %q: %w", v, err)
			}
			exts = append(exts, e)
			p.skipSpace()
			if p.done() {
				break
			}
			if p.peek() != ',' {
				return nil, fmt.Errorf("Sec-WebSocket-Extensions %q: unexpected %q at %d", v, p.peek(), p.i)
			}
			p.i++
		}
	}
	return exts, nil
}

type extParser struct {
	s string
	i int
}

func (p *extParser) done() bool { return p.i >= len(p.s) }
func (p *extParser) peek() byte { return p.s[p.i] }

func (p *extParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *extParser) token() (string, error) {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		if p.done() {
			return "", errors.New("token expected at end")
		}
		return "", fmt.Errorf("token expected at %d, found %q", p.i, p.s[p.i])
	}
	return p.s[start:p.i], nil
}

func (p *extParser) extension() (extension, error) {
	name, err := p.token()
	if err != nil {
		return extension{}, err
	}
	e := extension{name: name}
	for {
		p.skipSpace()
		if p.done() || p.peek() != ';' {
			return e, nil
		}
		p.i++
		p.skipSpace()
		var prm extParam
		if prm.name, err = p.token(); err != nil {
			return e, err
		}
		p.skipSpace()
		if !p.done() && p.peek() == '=' {
			p.i++
			p.skipSpace()
			prm.hasValue = true
			if !p.done() && p.peek() == '"' {
				if prm.value, err = p.quoted(); err != nil {
					return e, err
				}
				// RFC 6455 section 9.1: after unescaping, a quoted
				// value must still be a token.
				if !isToken(prm.value) {
					return e, fmt.Errorf("quoted value %q is not a token", prm.value)
				}
			} else if prm.value, err = p.token(); err != nil {
				return e, err
			}
		}
		e.params = append(e.params, prm)
	}
}

func (p *extParser) quoted() (string, error) {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			if p.i >= len(p.s) {
				return "", errors.New("unterminated escape in quoted string")
			}
			b.WriteByte(p.s[p.i])
			p.i++
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("unterminated quoted string")
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 9110
// section 5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// deflateParams are the parameters of one permessage-deflate offer or
// response. A window of 0 means the parameter is absent; clientBitsBare
// records client_max_window_bits given without a value (an offer only).
type deflateParams struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int
	clientMaxWindowBits     int
	clientBitsBare          bool
}

// parseDeflateParams checks the parameters of a permessage-deflate
// element: each known, at most once, with a valid value (RFC 7692 section
// 7.1). A value-less client_max_window_bits is allowed only in an offer.
func parseDeflateParams(params []extParam, offer bool) (deflateParams, error) {
	var d deflateParams
	seen := make(map[string]bool, len(params))
	for _, prm := range params {
		name := strings.ToLower(prm.name)
		if seen[name] {
			return d, fmt.Errorf("parameter %s given twice", name)
		}
		seen[name] = true
		switch name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if prm.hasValue {
				return d, fmt.Errorf("parameter %s takes no value", name)
			}
			if name == "server_no_context_takeover" {
				d.serverNoContextTakeover = true
			} else {
				d.clientNoContextTakeover = true
			}
		case "server_max_window_bits":
			bits, err := windowBits(prm)
			if err != nil {
				return d, err
			}
			d.serverMaxWindowBits = bits
		case "client_max_window_bits":
			if !prm.hasValue {
				if !offer {
					return d, errors.New("client_max_window_bits without a value in a response")
				}
				d.clientBitsBare = true
				continue
			}
			bits, err := windowBits(prm)
			if err != nil {
				return d, err
			}
			d.clientMaxWindowBits = bits
		default:
			return d, fmt.Errorf("unknown parameter %q", prm.name)
		}
	}
	return d, nil
}

// windowBits parses a window size: a decimal 8..15 without leading zeros.
func windowBits(prm extParam) (int, error) {
	v := prm.value
	if !prm.hasValue || len(v) == 0 || len(v) > 2 || v[0] == '0' {
		return 0, fmt.Errorf("%s=%q: want 8 to 15", prm.name, v)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 8 || n > 15 {
		return 0, fmt.Errorf("%s=%q: want 8 to 15", prm.name, v)
	}
	return n, nil
}

// deflateAgreement is what permessage-deflate was agreed as, seen from one
// endpoint: how it compresses (write) and how its peer does (read).
type deflateAgreement struct {
	writeNoContextTakeover bool
	writeWindowBits        int
	readNoContextTakeover  bool
	readWindowBits         int
}

// acceptDeflate chooses the first permessage-deflate offer the server can
// accept (RFC 7692 section 5.1) and returns the response element. An offer
// it cannot accept (unknown or repeated parameters, bad values) is
// declined, and the next one tried; ok is false if none is accepted.
func acceptDeflate(offers []extension, o *CompressionOptions) (resp string, agreed deflateAgreement, ok bool) {
	for _, e := range offers {
		if !strings.EqualFold(e.name, "permessage-deflate") {
			continue
		}
		d, err := parseDeflateParams(e.params, true)
		if err != nil {
			continue
		}
		// The server's own compressor.
		agreed.writeNoContextTakeover = d.serverNoContextTakeover || o.NoContextTakeover
		agreed.writeWindowBits = 15
		if d.serverMaxWindowBits != 0 {
			agreed.writeWindowBits = d.serverMaxWindowBits
		}
		if w := o.serverWindowBits(); w < agreed.writeWindowBits {
			agreed.writeWindowBits = w
		}
		// The client's compressor.
		agreed.readNoContextTakeover = d.clientNoContextTakeover || o.NoContextTakeover
		agreed.readWindowBits = 15
		if d.clientMaxWindowBits != 0 {
			agreed.readWindowBits = d.clientMaxWindowBits
		}
		clientMaySet := d.clientBitsBare || d.clientMaxWindowBits != 0
		if w := o.clientWindowBits(); w < agreed.readWindowBits && clientMaySet {
			agreed.readWindowBits = w
		}

		var b strings.Builder
		b.WriteString("permessage-deflate")
		if agreed.writeNoContextTakeover {
			b.WriteString("; server_no_context_takeover")
		}
		if agreed.readNoContextTakeover {
			b.WriteString("; client_no_context_takeover")
		}
		if d.serverMaxWindowBits != 0 || agreed.writeWindowBits < 15 {
			b.WriteString("; server_max_window_bits=" + strconv.Itoa(agreed.writeWindowBits))
		}
		if clientMaySet && agreed.readWindowBits < 15 {
			b.WriteString("; client_max_window_bits=" + strconv.Itoa(agreed.readWindowBits))
		}
		return b.String(), agreed, true
	}
	return "", deflateAgreement{}, false
}

// deflateOffer is the client's permessage-deflate offer for o.
func deflateOffer(o *CompressionOptions) string {
	var b strings.Builder
	b.WriteString("permessage-deflate")
	if o.NoContextTakeover {
		b.WriteString("; server_no_context_takeover; client_no_context_takeover")
	}
	if w := o.serverWindowBits(); w < 15 {
		b.WriteString("; server_max_window_bits=" + strconv.Itoa(w))
	}
	if w := o.clientWindowBits(); w < 15 {
		b.WriteString("; client_max_window_bits=" + strconv.Itoa(w))
	} else {
		b.WriteString("; client_max_window_bits")
	}
	return b.String()
}

// checkDeflateResponse validates the server's answer to deflateOffer(o)
// (RFC 7692 section 5.1: the client fails the connection on an invalid
// response). exts is the whole Sec-WebSocket-Extensions of the response.
// It returns ok false if the server declined compression.
func checkDeflateResponse(exts []extension, o *CompressionOptions) (agreed deflateAgreement, ok bool, err error) {
	switch len(exts) {
	case 0:
		return agreed, false, nil
	case 1:
	default:
		return agreed, false, fmt.Errorf("server chose %d extensions; one was offered", len(exts))
	}
	e := exts[0]
	if !strings.EqualFold(e.name, "permessage-deflate") {
		return agreed, false, fmt.Errorf("server chose extension %q, which was not offered", e.name)
	}
	d, err := parseDeflateParams(e.params, false)
	if err != nil {
		return agreed, false, fmt.Errorf("permessage-deflate response: %w", err)
	}
	offeredServer := o.serverWindowBits()
	if offeredServer < 15 {
		// The server accepts a limit by answering with one no larger
		// (RFC 7692 section 7.1.2.1).
		if d.serverMaxWindowBits == 0 {
			return agreed, false, fmt.Errorf("permessage-deflate response: server_max_window_bits=%d was requested and not agreed", offeredServer)
		}
		if d.serverMaxWindowBits > offeredServer {
			return agreed, false, fmt.Errorf("permessage-deflate response: server_max_window_bits=%d over the %d offered", d.serverMaxWindowBits, offeredServer)
		}
	}
	if o.NoContextTakeover && !d.serverNoContextTakeover {
		return agreed, false, errors.New("permessage-deflate response: server_no_context_takeover was requested and not agreed")
	}
	offeredClient := o.clientWindowBits()
	if d.clientMaxWindowBits > offeredClient {
		return agreed, false, fmt.Errorf("permessage-deflate response: client_max_window_bits=%d over the %d offered", d.clientMaxWindowBits, offeredClient)
	}
	agreed.readNoContextTakeover = d.serverNoContextTakeover
	agreed.readWindowBits = 15
	if d.serverMaxWindowBits != 0 {
		agreed.readWindowBits = d.serverMaxWindowBits
	}
	agreed.writeNoContextTakeover = d.clientNoContextTakeover || o.NoContextTakeover
	agreed.writeWindowBits = offeredClient
	if d.clientMaxWindowBits != 0 {
		agreed.writeWindowBits = d.clientMaxWindowBits
	}
	return agreed, true, nil
}
