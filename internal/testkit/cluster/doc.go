// Package cluster starts the real parts of a several-node wsdeck console
// for tests, all on loopback: a NATS cluster of nats-server processes with
// JetStream, wsdeck nodes (the built binary, run with --nats), and HAProxy
// in front of them. Each part can be killed with SIGKILL and started
// again on the same ports and files, which is the fault the tests make.
//
// A missing nats-server or haproxy skips the test, saying how to install
// it, unless WSDECK_REQUIRE_PEERS is 1 (as in CI), where it fails it (see
// package testpeer).
//
// The wsdeck nodes listen on one port of different loopback addresses
// (127.0.0.1, 127.0.0.2, ...), as nodes on different hosts would: the
// session cookie's name holds the port, so nodes behind one load balancer
// must share it.
//
// Everything is stopped when the test that started it is done. The
// package is for tests only: it imports testing.
package cluster
