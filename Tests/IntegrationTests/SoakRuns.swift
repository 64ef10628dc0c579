import Testing

/// The soak runs, one after the other: each bounds the growth of the process's RSS, which a soak running
/// next to it would inflate (and they compete for the same 2 cores).
@Suite("Soak runs", .serialized)
enum SoakRuns {}

typealias ReliabilitySoakTests = SoakRuns.ReliabilitySoakTests
typealias SoakTansuTests = SoakRuns.SoakTansuTests
