package websocket

import (
	"net/http"
	"reflect"
	"testing"
)

func exts(t *testing.T, values ...string) []extension {
	t.Helper()
	e, err := parseExtensions(http.Header{"Sec-Websocket-Extensions": values})
	if err != nil {
		t.Fatalf("parseExtensions(%q): %v", values, err)
	}
	return e
}

func TestParseExtensions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []string
		want   []extension
	}{
		{"bare", []string{"permessage-deflate"}, []extension{{name: "permessage-deflate"}}},
		{"params and list", []string{"permessage-deflate; client_max_window_bits ;server_max_window_bits=10, x-other"},
			[]extension{
				{name: "permessage-deflate", params: []extParam{{name: "client_max_window_bits"}, {name: "server_max_window_bits", value: "10", hasValue: true}}},
				{name: "x-other"},
			}},
		{"quoted value", []string{`permessage-deflate; server_max_window_bits="1\0"`},
			[]extension{{name: "permessage-deflate", params: []extParam{{name: "server_max_window_bits", value: "10", hasValue: true}}}}},
		{"several headers and empty elements", []string{"a", " , b ,"},
			[]extension{{name: "a"}, {name: "b"}}},
		{"none", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := exts(t, tc.header...)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseExtensionsErrors(t *testing.T) {
	for _, h := range []string{
		"permessage-deflate; =10",
		"permessage-deflate;;",
		"permessage-deflate; a=",
		`permessage-deflate; a="10`,
		`permessage-deflate; a="1 0"`,
		`permessage-deflate; a="\`,
		"permessage-deflate x",
		"per(message",
		"; a",
	} {
		if e, err := parseExtensions(http.Header{"Sec-Websocket-Extensions": {h}}); err == nil {
			t.Errorf("parseExtensions(%q) = %+v, want an error", h, e)
		}
	}
}

func TestAcceptDeflate(t *testing.T) {
	full := deflateAgreement{writeWindowBits: 15, readWindowBits: 15}
	for _, tc := range []struct {
		name   string
		offer  []string
		opts   CompressionOptions
		resp   string
		agreed deflateAgreement
		ok     bool
	}{
		{"plain", []string{"permessage-deflate"}, CompressionOptions{},
			"permessage-deflate", full, true},
		{"chromium's offer", []string{"permessage-deflate; client_max_window_bits"}, CompressionOptions{},
			"permessage-deflate", full, true},
		{"server_no_context_takeover", []string{"permessage-deflate; server_no_context_takeover"}, CompressionOptions{},
			"permessage-deflate; server_no_context_takeover",
			deflateAgreement{writeNoContextTakeover: true, writeWindowBits: 15, readWindowBits: 15}, true},
		{"client_no_context_takeover echoed", []string{"permessage-deflate; client_no_context_takeover"}, CompressionOptions{},
			"permessage-deflate; client_no_context_takeover",
			deflateAgreement{readNoContextTakeover: true, writeWindowBits: 15, readWindowBits: 15}, true},
		{"server wants no context takeover", []string{"permessage-deflate"}, CompressionOptions{NoContextTakeover: true},
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
			deflateAgreement{writeNoContextTakeover: true, readNoContextTakeover: true, writeWindowBits: 15, readWindowBits: 15}, true},
		{"server_max_window_bits offered", []string{"permessage-deflate; server_max_window_bits=10"}, CompressionOptions{},
			"permessage-deflate; server_max_window_bits=10",
			deflateAgreement{writeWindowBits: 10, readWindowBits: 15}, true},
		{"server_max_window_bits offered, server wants less", []string{"permessage-deflate; server_max_window_bits=10"}, CompressionOptions{ServerMaxWindowBits: 8},
			"permessage-deflate; server_max_window_bits=8",
			deflateAgreement{writeWindowBits: 8, readWindowBits: 15}, true},
		{"server limits itself unasked", []string{"permessage-deflate"}, CompressionOptions{ServerMaxWindowBits: 9},
			"permessage-deflate; server_max_window_bits=9",
			deflateAgreement{writeWindowBits: 9, readWindowBits: 15}, true},
		{"client_max_window_bits bare, server limits client", []string{"permessage-deflate; client_max_window_bits"}, CompressionOptions{ClientMaxWindowBits: 10},
			"permessage-deflate; client_max_window_bits=10",
			deflateAgreement{writeWindowBits: 15, readWindowBits: 10}, true},
		{"client_max_window_bits absent: server may not limit", []string{"permessage-deflate"}, CompressionOptions{ClientMaxWindowBits: 10},
			"permessage-deflate", full, true},
		{"client_max_window_bits=12 from client", []string{"permessage-deflate; client_max_window_bits=12"}, CompressionOptions{},
			"permessage-deflate; client_max_window_bits=12", deflateAgreement{writeWindowBits: 15, readWindowBits: 12}, true},
		{"client_max_window_bits=12, server wants 9", []string{"permessage-deflate; client_max_window_bits=12"}, CompressionOptions{ClientMaxWindowBits: 9},
			"permessage-deflate; client_max_window_bits=9", deflateAgreement{writeWindowBits: 15, readWindowBits: 9}, true},
		{"first acceptable of several", []string{"permessage-deflate; server_max_window_bits=7, permessage-deflate; foo, permessage-deflate; server_max_window_bits=11"}, CompressionOptions{},
			"permessage-deflate; server_max_window_bits=11", deflateAgreement{writeWindowBits: 11, readWindowBits: 15}, true},
		{"other extensions skipped", []string{"x-webkit-deflate-frame, permessage-deflate"}, CompressionOptions{},
			"permessage-deflate", full, true},
		{"case-insensitive name", []string{"Permessage-Deflate"}, CompressionOptions{}, "permessage-deflate", full, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			resp, agreed, ok := acceptDeflate(exts(t, tc.offer...), &o)
			if ok != tc.ok || resp != tc.resp || agreed != tc.agreed {
				t.Fatalf("got %q %+v %v\nwant %q %+v %v", resp, agreed, ok, tc.resp, tc.agreed, tc.ok)
			}
		})
	}
}

// TestAcceptDeflateDeclines: an offer the server cannot accept is declined
// (no extension), never a failed handshake.
func TestAcceptDeflateDeclines(t *testing.T) {
	for _, offer := range []string{
		"permessage-deflate; server_max_window_bits=7",
		"permessage-deflate; server_max_window_bits=16",
		"permessage-deflate; server_max_window_bits=08",
		"permessage-deflate; server_max_window_bits",
		"permessage-deflate; server_max_window_bits=x",
		"permessage-deflate; client_max_window_bits=abc",
		"permessage-deflate; client_max_window_bits=9; client_max_window_bits=10",
		"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
		"permessage-deflate; server_no_context_takeover=1",
		"permessage-deflate; client_no_context_takeover=true",
		"permessage-deflate; mystery",
		"x-webkit-deflate-frame",
	} {
		if resp, _, ok := acceptDeflate(exts(t, offer), &CompressionOptions{}); ok {
			t.Errorf("offer %q accepted as %q, want declined", offer, resp)
		}
	}
}

func TestCheckDeflateResponse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    CompressionOptions
		resp    []string
		agreed  deflateAgreement
		ok      bool
		wantErr bool
	}{
		{"declined", CompressionOptions{}, nil, deflateAgreement{}, false, false},
		{"plain", CompressionOptions{}, []string{"permessage-deflate"}, deflateAgreement{writeWindowBits: 15, readWindowBits: 15}, true, false},
		{"server limits itself", CompressionOptions{}, []string{"permessage-deflate; server_max_window_bits=10"},
			deflateAgreement{writeWindowBits: 15, readWindowBits: 10}, true, false},
		{"server limits client", CompressionOptions{}, []string{"permessage-deflate; client_max_window_bits=9"},
			deflateAgreement{writeWindowBits: 9, readWindowBits: 15}, true, false},
		{"server asks client for no context takeover", CompressionOptions{}, []string{"permessage-deflate; client_no_context_takeover"},
			deflateAgreement{writeNoContextTakeover: true, writeWindowBits: 15, readWindowBits: 15}, true, false},
		{"server won't take over context", CompressionOptions{}, []string{"permessage-deflate; server_no_context_takeover"},
			deflateAgreement{readNoContextTakeover: true, writeWindowBits: 15, readWindowBits: 15}, true, false},
		{"our offer agreed", CompressionOptions{ServerMaxWindowBits: 10, ClientMaxWindowBits: 11}, []string{"permessage-deflate; server_max_window_bits=10"},
			deflateAgreement{writeWindowBits: 11, readWindowBits: 10}, true, false},
		{"smaller than asked", CompressionOptions{ServerMaxWindowBits: 10}, []string{"permessage-deflate; server_max_window_bits=9"},
			deflateAgreement{writeWindowBits: 15, readWindowBits: 9}, true, false},
		{"bigger window than asked", CompressionOptions{ServerMaxWindowBits: 10}, []string{"permessage-deflate; server_max_window_bits=12"}, deflateAgreement{}, false, true},
		{"asked window not agreed", CompressionOptions{ServerMaxWindowBits: 10}, []string{"permessage-deflate"}, deflateAgreement{}, false, true},
		{"client window over ours", CompressionOptions{ClientMaxWindowBits: 10}, []string{"permessage-deflate; client_max_window_bits=12"}, deflateAgreement{}, false, true},
		{"no context takeover not agreed", CompressionOptions{NoContextTakeover: true}, []string{"permessage-deflate; client_no_context_takeover"}, deflateAgreement{}, false, true},
		{"bare client_max_window_bits", CompressionOptions{}, []string{"permessage-deflate; client_max_window_bits"}, deflateAgreement{}, false, true},
		{"unknown parameter", CompressionOptions{}, []string{"permessage-deflate; foo=1"}, deflateAgreement{}, false, true},
		{"duplicate parameter", CompressionOptions{}, []string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, deflateAgreement{}, false, true},
		{"invalid value", CompressionOptions{}, []string{"permessage-deflate; server_max_window_bits=7"}, deflateAgreement{}, false, true},
		{"not offered", CompressionOptions{}, []string{"x-webkit-deflate-frame"}, deflateAgreement{}, false, true},
		{"two answers", CompressionOptions{}, []string{"permessage-deflate", "permessage-deflate"}, deflateAgreement{}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			agreed, ok, err := checkDeflateResponse(exts(t, tc.resp...), &o)
			if (err != nil) != tc.wantErr || ok != tc.ok || agreed != tc.agreed {
				t.Fatalf("got %+v %v %v\nwant %+v %v err=%v", agreed, ok, err, tc.agreed, tc.ok, tc.wantErr)
			}
		})
	}
}

// TestDeflateNegotiationAgrees: for every combination of client and server
// options, the client's offer, the server's answer and the client's check
// agree, and each side's write settings are the other's read settings.
func TestDeflateNegotiationAgrees(t *testing.T) {
	var options []CompressionOptions
	for _, nct := range []bool{false, true} {
		for _, s := range []int{0, 8, 12} {
			for _, c := range []int{0, 9, 15} {
				options = append(options, CompressionOptions{NoContextTakeover: nct, ServerMaxWindowBits: s, ClientMaxWindowBits: c})
			}
		}
	}
	for _, co := range options {
		for _, so := range options {
			offer := deflateOffer(&co)
			resp, server, ok := acceptDeflate(exts(t, offer), &so)
			if !ok {
				t.Fatalf("server %+v declined client %+v offer %q", so, co, offer)
			}
			client, ok, err := checkDeflateResponse(exts(t, resp), &co)
			if err != nil || !ok {
				t.Fatalf("client %+v rejected %q (offer %q): %v", co, resp, offer, err)
			}
			if server.writeWindowBits != client.readWindowBits || server.writeNoContextTakeover != client.readNoContextTakeover ||
				client.writeWindowBits != server.readWindowBits || client.writeNoContextTakeover != server.readNoContextTakeover {
				t.Fatalf("offer %q, response %q: server %+v, client %+v disagree", offer, resp, server, client)
			}
			if client.writeWindowBits > windowOrMax(co.ClientMaxWindowBits) || server.writeWindowBits > windowOrMax(co.ServerMaxWindowBits) {
				t.Fatalf("offer %q, response %q: windows over the client's limits: server %+v client %+v", offer, resp, server, client)
			}
		}
	}
}

// FuzzParseExtensions: any header value parses or fails without panicking;
// whatever a server accepts from it, a client that made the same offer
// accepts back, with the same windows.
func FuzzParseExtensions(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate",
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9",
		`permessage-deflate; server_max_window_bits="12", permessage-deflate`,
		"permessage-deflate; server_max_window_bits=08",
		"x-webkit-deflate-frame, permessage-deflate; foo",
		`a; b="\"", c`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		offers, err := parseExtensions(http.Header{"Sec-Websocket-Extensions": {v}})
		if err != nil {
			return
		}
		resp, server, ok := acceptDeflate(offers, &CompressionOptions{})
		if !ok {
			return
		}
		// The response is one of ours: it must parse, and fit an offer
		// made with the same windows.
		respExts, err := parseExtensions(http.Header{"Sec-Websocket-Extensions": {resp}})
		if err != nil || len(respExts) != 1 {
			t.Fatalf("response %q does not parse: %v", resp, err)
		}
		if server.writeWindowBits < 8 || server.writeWindowBits > 15 || server.readWindowBits < 8 || server.readWindowBits > 15 {
			t.Fatalf("offer %q: windows out of range: %+v", v, server)
		}
	})
}
