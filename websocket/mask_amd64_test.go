//go:build !purego

package websocket

// archMaskImpls are maskVec with each vector size the CPU supports.
func archMaskImpls() []maskImpl {
	impls := []maskImpl{{"sse2", func(key uint32, pos int, b []byte) int {
		return maskVec(key, pos, b, vecSSE2)
	}}}
	if maskVecSize >= vecAVX2 {
		impls = append(impls, maskImpl{"avx2", func(key uint32, pos int, b []byte) int {
			return maskVec(key, pos, b, vecAVX2)
		}})
	}
	if maskVecSize >= vecAVX512 {
		impls = append(impls, maskImpl{"avx512", func(key uint32, pos int, b []byte) int {
			return maskVec(key, pos, b, vecAVX512)
		}})
	}
	return impls
}
