// Package wstest is the websocket package's own test kit: a goroutine leak
// check, the finders of the independent peers the interop tests talk to, a
// frame encoder written from RFC 6455 without the package's own, a
// poll-until helper, and the TLS certificate of a test server.
//
// It imports nothing but the standard library, and nothing of the module
// around websocket, so that websocket and its tests could leave the
// repository as a module of their own without change. It must not import
// websocket: the package's internal tests use it.
package wstest
