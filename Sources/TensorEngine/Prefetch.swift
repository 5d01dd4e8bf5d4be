// MARK: - Software prefetch

/// LLVM's target-independent prefetch intrinsic (`llvm.prefetch`), bound by name: Swift has no
/// prefetch of its own, and a plain load that misses stalls retirement where a prefetch does
/// not. `rw` 0 read / 1 write, `locality` 0 (none) ... 3 (keep in all levels), `cacheType` 1 data.
/// Lowered to `prefetcht0` on x86-64 and `prfm pldl1keep` on arm64; never faults, even on an
/// address outside the process.
@_silgen_name("llvm.prefetch.p0")
func llvmPrefetch(_ address: UnsafeRawPointer, _ rw: Int32, _ locality: Int32, _ cacheType: Int32)

/// Asks for the cache line holding `address` in L1, for reading soon.
@inline(__always)
func prefetchForRead(_ address: UnsafeRawPointer) {
    llvmPrefetch(address, 0, 3, 1)
}
