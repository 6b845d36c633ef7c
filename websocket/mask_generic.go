//go:build !amd64 || purego

package websocket

func mask(key uint32, pos int, b []byte) int { return maskGeneric(key, pos, b) }
