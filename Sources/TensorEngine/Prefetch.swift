// MARK: - Software prefetch

/// LLVM's target-independent prefetch intrinsic (`llvm.prefetch`), bound by name: Swift has no
/// prefetch of its own, and a plain load that misses stalls retirement where a prefetch does
/// not. `rw` 0 read / 1 write, `locality` 0 (none) ... 3 (keep in all levels), `cacheType` 1 data;
/// all three must be literals at the call site (LLVM takes them as immediates: a runtime value
/// crashed swift-frontend 6.3.1). Checked here on x86-64, where locality 3 is `prefetcht0`; a
/// prefetch never faults, whatever the address.
@_silgen_name("llvm.prefetch.p0")
func llvmPrefetch(_ address: UnsafeRawPointer, _ rw: Int32, _ locality: Int32, _ cacheType: Int32)

/// Asks for the cache line holding `address` in L1, for reading soon.
@inline(__always)
func prefetchForRead(_ address: UnsafeRawPointer) {
    llvmPrefetch(address, 0, 3, 1)
}
